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
* **Weights reordered once, ReLU fused** (:class:`ConvReLU`). Called eagerly, oneDNN copies each
  convolution's weights into its own blocked layout on every call and the ReLU makes a second pass
  over the output. Done once per input shape and kept, with the ReLU as a post-operation of the
  convolution, this saves a few percent at batch 8 and about an eighth at batch 1. The blocked
  layout depends on the input shape (a copy made for 8x224x224 slows 8x128x128 down), so a copy is
  kept per shape, the latest few only.

Where OpenVINO is installed the default engine is the network exported to ONNX and run by it
(:mod:`utils.network.engine`), which beats the changes above and the engines a reader would otherwise
pick, ONNX Runtime and OpenVINO with their defaults (benchmarks/REPORT.md); the PyTorch path stays as
the fallback and for inputs the engine does not take (``engine="torch"`` asks for it alone).

``torch.compile`` is optional (``compile=True``): it needs a C compiler and a minute of compile
time, and on a 2-core CPU it did not beat the two changes above, so it is off by default and any
failure falls back to the eager model with a warning.
"""

from __future__ import annotations

import copy
import warnings
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from . import engine as engine_module


def fold_batch_norm(model: nn.Module) -> int:
    """Fold every eval-mode ``bn`` into the ``conv`` beside it, in place; return how many were folded.

    Works on any module with ``conv`` and ``bn`` attributes whose forward skips ``bn`` when it is
    ``None``, as :class:`utils.network.model.BasicConv2d` does. The model must be in eval mode: folding uses
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


def _onednn_available() -> bool:
    """Whether this PyTorch build has the oneDNN operators :class:`ConvReLU` calls."""
    try:
        return torch.backends.mkldnn.is_available() and all(
            hasattr(torch.ops.mkldnn, op) for op in ("_reorder_convolution_weight", "_convolution_pointwise"))
    except (AttributeError, RuntimeError):
        return False


class ConvReLU(nn.Module):
    """``relu(conv(x))`` as one oneDNN call, with the weights reordered once per input shape.

    Holds the (batch-norm-folded) convolution as ``conv``, so its weights and shapes stay where
    :class:`utils.network.model.BasicConv2d` kept them. Inputs that oneDNN's path does not take (not
    channels-last, not float32 on the CPU, or gradients wanted) run the plain ``conv`` and ReLU.

    Args:
        conv: a convolution with groups 1 and dilation 1.
        shapes_kept: how many input shapes keep their reordered weights (the least recently used
            one is dropped first).
    """

    def __init__(self, conv: nn.Conv2d, shapes_kept: int = 4):
        super().__init__()
        if conv.groups != 1 or conv.dilation != (1, 1) or not isinstance(conv.padding, tuple):
            raise ValueError(f"ConvReLU takes a plain convolution (groups 1, dilation 1, numeric padding), "
                             f"got {conv}")
        self.conv = conv
        self.shapes_kept = shapes_kept
        self._reordered: OrderedDict[torch.Size, torch.Tensor] = OrderedDict()

    def _takes(self, x: torch.Tensor) -> bool:
        w = self.conv.weight
        return (x.device.type == "cpu" and x.dtype == w.dtype == torch.float32 and x.dim() == 4
                and x.is_contiguous(memory_format=torch.channels_last)
                and not (torch.is_grad_enabled() and (x.requires_grad or w.requires_grad)))

    def _weight_for(self, shape: torch.Size) -> torch.Tensor:
        w = self._reordered.get(shape)
        if w is None:
            c = self.conv
            w = torch.ops.mkldnn._reorder_convolution_weight(
                c.weight.contiguous(memory_format=torch.channels_last), list(c.padding), list(c.stride),
                [1, 1], 1, list(shape))
            self._reordered[shape] = w
            while len(self._reordered) > self.shapes_kept:
                self._reordered.popitem(last=False)
        else:
            self._reordered.move_to_end(shape)
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._takes(x):
            return F.relu(self.conv(x), inplace=True)
        c = self.conv
        return torch.ops.mkldnn._convolution_pointwise(
            x, self._weight_for(x.shape), c.bias, list(c.padding), list(c.stride), [1, 1], 1, "relu", [], "")

    def __deepcopy__(self, memo):  # oneDNN's opaque tensors cannot be copied; the copy reorders afresh
        new = ConvReLU(copy.deepcopy(self.conv, memo), self.shapes_kept)
        new.train(self.training)
        return new


def fuse_conv_relu(model: nn.Module) -> int:
    """Replace every batch-norm-free conv block (``conv`` then ReLU) with a :class:`ConvReLU`, in place.

    Returns how many were replaced. Blocks that still carry batch norm are left alone (fold it first,
    :func:`fold_batch_norm`). Does nothing, and returns 0, on a PyTorch built without oneDNN.
    """
    from .model import BasicConv2d

    if not _onednn_available():
        return 0
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, BasicConv2d) and child.bn is None:
                setattr(parent, name, ConvReLU(child.conv))
                replaced += 1
    return replaced


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


ENGINES = ("auto", "openvino", "torch")


def optimize_for_inference(model: nn.Module, *, engine: str = "auto", fold_bn: bool = True,
                           channels_last: bool = True, fuse_relu: bool = True, compile: bool = False) -> nn.Module:
    """Return an inference-only copy of ``model`` that gives the same logits, faster on a CPU.

    The original model is not modified. The copy is in eval mode with gradients off, so the
    auxiliary heads of §5 are skipped, as at test time in the paper.

    Args:
        model: a GoogLeNet from :func:`utils.network.model.googlenet` (either variant), or any module.
        engine: ``"openvino"``: the graph exported to ONNX and run by OpenVINO
            (:class:`utils.network.engine.OpenVinoInference`), with the PyTorch path below for inputs it
            does not take; ``"torch"``: the PyTorch path alone; ``"auto"`` (default): OpenVINO when it is
            installed and the model exports, else PyTorch (with a warning when the export failed). The
            remaining options shape the PyTorch path.
        fold_bn: fold batch norm into the preceding convolution (a no-op for the paper variant).
        channels_last: store weights and activations NHWC.
        fuse_relu: run each conv block as one oneDNN call with its weights reordered once
            (:class:`ConvReLU`); needs ``channels_last`` and, for the torchvision variant, ``fold_bn``;
            ignored with ``compile``.
        compile: also wrap in ``torch.compile``; falls back to eager (with a warning) when the
            compiler is unavailable or fails on a first call.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"optimize_for_inference needs a torch.nn.Module, got {type(model).__name__}")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    torch_path = _torch_path(model, fold_bn=fold_bn, channels_last=channels_last, fuse_relu=fuse_relu,
                             compile=compile)
    if engine == "torch" or (engine == "auto" and (compile or not engine_module.available())):
        return torch_path
    # the graph is exported on the first call of each input shape; with "auto" a model that does not
    # export warns once and stays on the PyTorch path
    return engine_module.OpenVinoInference(model, fallback=torch_path, strict=engine == "openvino")


def _torch_path(model: nn.Module, *, fold_bn: bool, channels_last: bool, fuse_relu: bool,
                compile: bool) -> FastInference:
    """The PyTorch inference path: batch norm folded, channels-last, conv and ReLU fused."""
    fast = copy.deepcopy(model).eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    if fold_bn:
        fold_batch_norm(fast)
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
        if fuse_relu and not compile:  # the compiler fuses on its own and cannot trace oneDNN's opaque weights
            fuse_conv_relu(fast)
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
