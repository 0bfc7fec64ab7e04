"""GoogLeNet exported to ONNX and run by OpenVINO: the engine behind the CPU inference path.

The network is a fixed graph at inference (§5: the auxiliary heads are dropped, dropout is off), so
it can be handed to an inference engine whole. OpenVINO's CPU plugin keeps the activations in a
blocked channel layout from one layer to the next, fuses each ReLU (and folded batch norm) into its
convolution and runs LRN as one kernel, which brings the Inception module's many small 1x1
convolutions (§4) close to the speed of one large matrix multiply.

Three choices are this module's own, each measured against the engine's defaults
(benchmarks/REPORT.md, "Against other engines"):

* **Figure 3's LocalRespNorm exports as ONNX's ``LRN`` operator**, not as the dozen element-wise
  operations :mod:`utils.network.lrn` computes it with. ONNX's definition divides ``alpha`` by
  ``size`` as Caffe and :class:`utils.network.lrn.LocalResponseNorm` do, and for an odd ``size`` both
  centre the window on the channel (``c - (size-1)/2 .. c + (size-1)/2``); for an even size the
  two windows differ by one channel, so such an LRN is refused rather than exported wrongly.
* **One compiled model per input shape**: the batch size is fixed when the model is compiled, so
  the plugin plans memory and picks kernels once instead of on every call.
* **Large batches are split across the cores**: one single-threaded stream per core, and two slices
  of the batch per core, each stream taking the next slice when it is free. Small layers late in the
  network (7x7 maps) leave two threads of one convolution waiting on each other; independent slices
  never wait, and on a shared machine a core slowed by another process takes fewer slices. A batch
  smaller than the number of cores runs as one request with a thread per core.

Arithmetic stays float32 (``INFERENCE_PRECISION_HINT``: on CPUs with bfloat16 units the plugin would
otherwise choose bfloat16), so outputs equal the plain model's logits to float rounding
(tests/test_engines.py). OpenVINO is optional: :func:`available` says whether it is installed, and
:func:`utils.network.fast.optimize_for_inference` falls back to its PyTorch path without it.
"""


from __future__ import annotations

import copy
import io
import warnings
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

OPSET = 17  # ONNX opset; LRN and GlobalAveragePool have been in it since opset 1


def available() -> bool:
    """Whether OpenVINO can be imported (it is an optional dependency, see requirements.txt)."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


class _LRNFunction(torch.autograd.Function):
    """Local response normalisation that the TorchScript exporter writes as one ONNX ``LRN`` node."""

    @staticmethod
    def forward(ctx, x, size: int, alpha: float, beta: float, k: float):
        from .lrn import local_response_norm

        with torch.no_grad():
            return local_response_norm(x, size, alpha, beta, k)

    @staticmethod
    def symbolic(g, x, size: int, alpha: float, beta: float, k: float):
        # ONNX LRN: y = x / (bias + alpha / size * sum of squares over the window) ** beta
        return g.op("LRN", x, size_i=size, alpha_f=alpha, beta_f=beta, bias_f=k)


class ExportableLRN(nn.Module):
    """The output of :class:`utils.network.lrn.LocalResponseNorm`, exported as one ONNX ``LRN`` node.

    Args:
        size: channels in the window; must be odd (ONNX centres an even window one channel off Caffe's).
    """

    def __init__(self, size: int, alpha: float, beta: float, k: float):
        super().__init__()
        if size % 2 == 0:
            raise ValueError(f"LRN size {size} is even: ONNX's LRN window sits one channel off Caffe's and "
                             f"PyTorch's for even sizes, so it would not compute the same function; "
                             f"use an odd size (GoogLeNet's is 5) or the PyTorch path (engine='torch')")
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _LRNFunction.apply(x, self.size, self.alpha, self.beta, self.k)


def _exportable(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with batch norm folded and every LRN replaced by :class:`ExportableLRN`."""
    from .fast import fold_batch_norm
    from .lrn import LocalResponseNorm

    model = copy.deepcopy(model).eval()
    fold_batch_norm(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LocalResponseNorm | nn.LocalResponseNorm):
                setattr(parent, name, ExportableLRN(child.size, child.alpha, child.beta, child.k))
    return model


def export_onnx(model: nn.Module, channels: int = 3, height: int = 224, width: int = 224) -> bytes:
    """The inference graph of ``model`` as ONNX bytes, for ``(N, channels, height, width)`` inputs (N free).

    Uses the TorchScript exporter (``dynamo=False``), which needs no package beyond torch and writes the
    LRN as one ``LRN`` node. The spatial size is fixed: the network's shape checks run at export, and an
    engine plans its memory once for a known map size.
    """
    net = _exportable(model)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # the network's input checks turn into constants when traced: true for the size exported
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(net, (torch.zeros(1, channels, height, width),), buf, dynamo=False,
                          input_names=["images"], output_names=["logits"], opset_version=OPSET,
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})
    return buf.getvalue()


def compile_model(graph: bytes, shape: tuple[int, ...], threads: int, streams: int = 1):
    """OpenVINO's CPU compilation of an ONNX ``graph`` for inputs of exactly ``shape``, in float32.

    Args:
        threads: CPU threads in all.
        streams: how many requests may run at once, ``threads // streams`` threads each (1: latency).
    """
    import openvino as ov

    core = ov.Core()
    network = core.read_model(graph, b"")
    network.reshape({network.inputs[0].get_any_name(): list(shape)})
    config = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads,
              "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT"}
    if streams > 1:
        config["NUM_STREAMS"] = streams
    return core.compile_model(network, "CPU", config)


class OpenVinoInference(nn.Module):
    """GoogLeNet's inference graph run by OpenVINO; takes and returns ordinary NCHW tensors.

    Inputs the engine does not take (not float32, not on the CPU, not 4-D, or gradients wanted) go to
    ``fallback``, the PyTorch path. The graph is exported once per image shape (channels, height, width)
    and compiled once per batch shape; the latest ``shapes_kept`` of each are kept.

    Args:
        model: the network to export (copied; later changes to it are not seen).
        fallback: the module that answers inputs the engine does not take.
        cores: how many cores to use (default: ``torch.get_num_threads()``, PyTorch's own choice).
        split_batch: split a batch of at least ``cores`` images into one slice per core, run at once.
        strict: raise when the model does not export; otherwise warn once and send every input to ``fallback``.

    Shape:
        (N, 3, H, W) -> (N, num_classes)
    """

    def __init__(self, model: nn.Module, fallback: nn.Module, cores: int | None = None, split_batch: bool = True,
                 shapes_kept: int = 8, strict: bool = True):
        super().__init__()
        if not available():
            raise ImportError("OpenVinoInference needs openvino (pip install -r requirements.txt); "
                              "optimize_for_inference(model, engine='torch') runs without it")
        self.network = _exportable(model)
        for p in self.network.parameters():
            p.requires_grad_(False)
        self.fallback = fallback
        self.cores = max(1, cores or torch.get_num_threads())
        self.split_batch = split_batch
        self.shapes_kept = shapes_kept
        self.strict = strict
        self.failed: str | None = None  # why the export failed, when not strict: every input then goes to fallback
        self._graphs: OrderedDict[tuple[int, ...], bytes] = OrderedDict()
        self._compiled: OrderedDict[tuple, object] = OrderedDict()
        self._runners: OrderedDict[tuple[int, ...], list] = OrderedDict()

    def _takes(self, x: torch.Tensor) -> bool:
        return (isinstance(x, torch.Tensor) and x.device.type == "cpu" and x.dtype == torch.float32
                and x.dim() == 4 and len(x) > 0 and not (torch.is_grad_enabled() and x.requires_grad))

    def graph(self, shape: tuple[int, ...]) -> bytes:
        """The ONNX graph for images of ``shape`` (channels, height, width), exported on first use."""
        return _cached(self._graphs, shape, self.shapes_kept, lambda: export_onnx(self.network, *shape))

    def _compiled_for(self, shape: tuple[int, ...], streams: int):
        return _cached(self._compiled, (shape, streams), self.shapes_kept,
                       lambda: compile_model(self.graph(shape[1:]), shape, self.cores, streams))

    def runner(self, shape: tuple[int, ...]) -> list[tuple[slice, object]]:
        """(slice of the batch, infer request) pairs for inputs of ``shape`` (N, C, H, W)."""
        def build():
            n, image = shape[0], tuple(shape[1:])
            if not self.split_batch or self.cores == 1 or n < self.cores:
                return [(slice(0, n), self._compiled_for(tuple(shape), 1).create_infer_request())]
            # two slices per core: a core that finishes early (another process took the other one for a
            # while) starts the next slice instead of waiting
            return [(s, self._compiled_for((s.stop - s.start, *image), self.cores).create_infer_request())
                    for s in _slices(n, min(n, 2 * self.cores))]
        return _cached(self._runners, tuple(shape), self.shapes_kept, build)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.failed is not None or not self._takes(x):
            return self.fallback(x)
        try:
            requests = self.runner(tuple(x.shape))
        except Exception as exc:
            if self.strict:
                raise
            self.failed = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"OpenVINO could not run this model ({self.failed}); using the PyTorch path",
                          stacklevel=2)
            return self.fallback(x)
        # the engine reads the input where it lies (share_inputs) and writes its output in place, instead of
        # copying the input into a fresh tensor on every call; ``images`` stays alive until every request
        # has finished, and the output is copied out before the next call overwrites it
        images = x.detach().contiguous().numpy()
        if len(requests) == 1:
            request = requests[0][1]
            request.infer({0: images}, share_inputs=True, share_outputs=True)
            return torch.from_numpy(request.get_output_tensor(0).data.copy())
        for s, request in requests:  # every slice is queued before any is waited on; the streams take turns
            request.start_async({0: images[s]}, share_inputs=True)
        for _, request in requests:
            request.wait()
        return torch.from_numpy(np.concatenate([request.get_output_tensor(0).data for _, request in requests]))

    def __deepcopy__(self, memo):  # compiled models cannot be copied; the copy compiles afresh
        return OpenVinoInference(self.network, copy.deepcopy(self.fallback, memo), self.cores, self.split_batch,
                                 self.shapes_kept, self.strict)


def _cached(cache: OrderedDict, key, kept: int, make):
    """``cache[key]``, made by ``make()`` when missing; the least recently used entries beyond ``kept`` dropped."""
    found = cache.get(key)
    if found is None:
        found = make()
        cache[key] = found
        while len(cache) > kept:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return found


def _slices(n: int, parts: int) -> list[slice]:
    """``parts`` contiguous slices covering ``range(n)``, sizes differing by at most one."""
    bounds = [n * i // parts for i in range(parts + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]
