"""Local response normalisation across channels (Figure 3's "LocalRespNorm"), fast on CPU.

Each activation is divided by a power of the energy of its neighbours across channels:

    y_c = x_c / (k + alpha / size * sum_{c' in window(c)} x_{c'}^2) ** beta

with a window of ``size`` channels centred on ``c`` and zero beyond the first and last channel. This
is the cross-channel LRN of AlexNet as Caffe computes it (alpha divided by the window size), and the
same function as :class:`torch.nn.LocalResponseNorm`. PyTorch's module builds the window sum with a
3-D average pool over a padded copy and leaves the backward pass to autograd through every step;
here the window sum is ``size - 1`` in-place additions of shifted channel slices, ``s ** -0.75`` is
two square roots instead of ``pow``, and the gradient is written out:

    dL/dx_j = g_j * s_j^-beta - 2 * alpha * beta / size * x_j * sum_{i in window(j)} g_i * y_i / s_i

(``i`` runs over the windows that contain ``j``: the same window mirrored, which for an odd size is the
window itself), which needs one more window sum instead of autograd's graph of six operations.
Results agree with PyTorch's to float rounding (tests/test_lrn.py), in both passes, and
channels-last inputs stay channels-last.
"""

from __future__ import annotations

import torch
from torch import nn


def window_sum(t: torch.Tensor, size: int, mirrored: bool = False, start: float | None = None) -> torch.Tensor:
    """Sum of ``t`` over a window of ``size`` channels around each channel (dim 1), zero padded.

    The window of channel ``c`` is ``c - size // 2 .. c + (size - 1) // 2``, PyTorch's and Caffe's;
    ``mirrored`` swaps the two sides (the windows that contain ``c``; different only for even sizes).
    ``start`` is added to every sum, in the pass that copies ``t``. Each neighbour is added in place
    through a channel slice, so no padded copy of ``t`` is made.

    Shape:
        (N, C, H, W) -> (N, C, H, W)
    """
    before = (size - 1) // 2 if mirrored else size // 2
    channels = t.shape[1]
    out = t.clone(memory_format=torch.preserve_format) if start is None else torch.add(t, start)
    for d in range(1, min(before, channels - 1) + 1):  # channel c gains channel c - d
        out[:, d:] += t[:, :channels - d]
    for d in range(1, min(size - 1 - before, channels - 1) + 1):  # channel c gains channel c + d
        out[:, :channels - d] += t[:, d:]
    return out


def _scale(x: torch.Tensor, size: int, alpha: float, k: float) -> torch.Tensor:
    """``k + alpha / size * window_sum(x^2)``, written as ``c * (window_sum(x^2) + k / c)``: one pass fewer."""
    c = alpha / size
    return window_sum(x * x, size, start=k / c).mul_(c)


def _inverse_power(s: torch.Tensor, beta: float) -> torch.Tensor:
    """``s ** -beta``. For Caffe's beta = 0.75 as ``rsqrt(s * sqrt(s))``: two square roots cost less
    than ``pow``'s exp and log, and agree with it to float rounding."""
    if beta == 0.75:
        q = s.sqrt()
        return q.mul_(s).rsqrt_()
    return s.pow(-beta)


class _LRNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, size: int, alpha: float, beta: float, k: float):
        s = _scale(x, size, alpha, k)
        p = _inverse_power(s, beta)
        y = x * p
        ctx.save_for_backward(x, y, s, p)  # p saved: a second pow costs as much as the rest of the pass
        ctx.params = (size, alpha, beta)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, y, s, p = ctx.saved_tensors
        size, alpha, beta = ctx.params
        t = grad * y
        t /= s
        neighbours = window_sum(t, size, mirrored=True)
        dx = grad * p
        dx.addcmul_(x, neighbours, value=-2 * alpha * beta / size)
        return dx, None, None, None, None


def local_response_norm(x: torch.Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> torch.Tensor:
    """Functional form of :class:`LocalResponseNorm`; same arguments as PyTorch's."""
    if x.dim() != 4:
        raise ValueError(f"local_response_norm expects N x C x H x W, got shape {tuple(x.shape)}")
    if torch.is_grad_enabled() and x.requires_grad:
        return _LRNFunction.apply(x, size, alpha, beta, k)
    # no gradient needed (inference, tracing, the meta device): the plain composite
    return x * _inverse_power(_scale(x, size, alpha, k), beta)


class LocalResponseNorm(nn.Module):
    """Figure 3's LocalRespNorm: a drop-in for :class:`torch.nn.LocalResponseNorm` with a fast backward.

    Args:
        size: channels in the window (5 in AlexNet and BVLC's GoogLeNet).
        alpha: scale of the summed energy, divided by ``size`` (Caffe's convention; 1e-4).
        beta: the exponent (0.75).
        k: the additive constant (1 in Caffe's GoogLeNet; AlexNet's paper used 2).
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
