"""A fast CPU inference path for GoogLeNet: batch norm folded into convolutions, channels-last memory.

GoogLeNet was designed for a fixed inference budget of "1.5 billion multiply-adds" (§1, §5), so how
close a CPU gets to that arithmetic's speed limit is a fair question. Two changes matter on a CPU,
neither of which alters what the network computes:

* **Batch norm folding** (torchvision variant only; the paper has no batch norm, §5). In eval mode
  ``bn(conv(x)) = gamma * (W*x - mean) / sqrt(var + eps) + beta`` is again a convolution, with
  weights ``W * gamma / sqrt(var + eps)`` and a bias. One pass over the feature map instead of two.
* **Channels-last memory** (NHWC). oneDNN's convolution kernels are written for it; in the default
  NCHW layout every convolution reorders its input and output, which for the many small 1x1
  convolutions of the Inception modules (§4) costs as much as the arithmetic.

``torch.compile`` is optional (``compile=True``): it needs a C compiler and a minute of compile
time, and on a 2-core CPU it did not beat the two changes above, so it is off by default and any
failure falls back to the eager model with a warning.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batch_norm(model: nn.Module) -> int:
    """Fold every eval-mode ``bn`` into the ``conv`` beside it, in place; return how many were folded.

    Works on any module with ``conv`` and ``bn`` attributes whose forward skips ``bn`` when it is
    ``None``, as :class:`utils.model.BasicConv2d` does. The model must be in eval mode: folding uses
    the running statistics, which is only what the network computes at inference.
    """
    if model.training:
        raise ValueError("fold_batch_norm needs an eval-mode model (it folds running statistics); "
                         "call model.eval() first")
    folded = 0
    for module in model.modules():
        conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            module.conv = fuse_conv_bn_eval(conv, bn)
            module.bn = None
            folded += 1
    return folded


class FastInference(nn.Module):
    """Wraps an optimised copy of a model; takes and returns ordinary NCHW tensors.

    The input is converted to channels-last once here, so callers need not know the layout.

    Shape:
        (N, 3, H, W) -> (N, num_classes)
    """

    def __init__(self, model: nn.Module, channels_last: bool):
        super().__init__()
        self.model = model
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and isinstance(x, torch.Tensor) and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)


def optimize_for_inference(model: nn.Module, *, fold_bn: bool = True, channels_last: bool = True,
                           compile: bool = False) -> FastInference:
    """Return an inference-only copy of ``model`` that gives the same logits, faster on a CPU.

    The original model is not modified. The copy is in eval mode with gradients off, so the
    auxiliary heads of §5 are skipped, as at test time in the paper.

    Args:
        model: a GoogLeNet from :func:`utils.model.googlenet` (either variant), or any module.
        fold_bn: fold batch norm into the preceding convolution (a no-op for the paper variant).
        channels_last: store weights and activations NHWC.
        compile: also wrap in ``torch.compile``; falls back to eager (with a warning) when the
            compiler is unavailable or fails on a first call.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"optimize_for_inference needs a torch.nn.Module, got {type(model).__name__}")
    fast = copy.deepcopy(model).eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    if fold_bn:
        fold_batch_norm(fast)
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    wrapped = FastInference(fast, channels_last)
    if compile:
        return _try_compile(wrapped)
    return wrapped


def _try_compile(wrapped: FastInference) -> FastInference:
    try:
        compiled = torch.compile(wrapped.model)
        with torch.no_grad():
            compiled(torch.zeros(1, 3, 224, 224).contiguous(
                memory_format=torch.channels_last if wrapped.channels_last else torch.contiguous_format))
    except Exception as exc:  # any compiler failure: the eager model is still correct
        warnings.warn(f"torch.compile failed ({type(exc).__name__}: {exc}); using the eager model",
                      stacklevel=3)
        return wrapped
    return FastInference(compiled, wrapped.channels_last)
