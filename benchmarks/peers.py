"""The engines a reader would pick instead of this project to run GoogLeNet fast on a CPU.

Each peer runs the graph :func:`utils.network.engine.export_onnx` writes (batch size free, the paper
variant's LRN as ONNX's ``LRN`` node), the way its documentation's first example does: ONNX Runtime's
CPU session and OpenVINO's CPU plugin with their defaults, except the thread count (the machine's,
``torch.get_num_threads()``) and, for OpenVINO, float32 arithmetic (its default on CPUs with bfloat16
units is bfloat16, which changes the logits in the third digit). Both are optional: a peer whose
package is missing is left out of the comparison.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

PEERS = ("onnxruntime", "openvino")


class Peer:
    """One engine running one exported graph; called like a model (NCHW float32 tensor -> logits tensor)."""

    def __init__(self, engine: str, run, version: str):
        self.engine, self._run, self.version = engine, run, version

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self._run(x.detach().contiguous().numpy())))

    def __repr__(self) -> str:
        return f"Peer({self.engine} {self.version})"


def onnxruntime_peer(graph: bytes, threads: int) -> Peer:
    """ONNX Runtime's CPU session with its defaults (all graph optimisations on), ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return Peer("onnxruntime", lambda a: session.run(None, {name: a})[0], ort.__version__)


def openvino_peer(graph: bytes, threads: int) -> Peer:
    """OpenVINO's CPU plugin with its defaults (latency hint), ``threads`` threads, float32."""
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(graph, b""), "CPU",
                                  {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"})
    return Peer("openvino", lambda a: compiled(a)[0], ov.__version__)


def installed() -> list[str]:
    """The peers whose package can be imported here."""
    import importlib.util

    return [p for p in PEERS if importlib.util.find_spec(p) is not None]


def build(model: nn.Module, threads: int | None = None) -> dict[str, Peer]:
    """engine -> peer for every installed engine, all running one export of ``model``."""
    from utils.network.engine import export_onnx

    engines = installed()
    if not engines:
        return {}
    graph = export_onnx(model)
    threads = threads or torch.get_num_threads()
    makers = {"onnxruntime": onnxruntime_peer, "openvino": openvino_peer}
    return {e: makers[e](graph, threads) for e in engines}


def relative_error(out: torch.Tensor, reference: torch.Tensor) -> float:
    """Largest absolute difference over the largest absolute reference logit."""
    return float((out.float() - reference.float()).abs().max() / reference.float().abs().max())
