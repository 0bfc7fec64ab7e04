"""The OpenVINO engine (utils.network.engine): the exported graph computes the plain model's logits.

Skipped where openvino is not installed; the PyTorch path (tests/test_fast.py) is tested everywhere.
"""

from __future__ import annotations

import copy
import functools
import warnings

import pytest
import torch
from torch import nn

pytest.importorskip("openvino")

from utils.network import engine  # noqa: E402
from utils.network.fast import optimize_for_inference  # noqa: E402
from utils.network.lrn import LocalResponseNorm  # noqa: E402
from utils.network.model import googlenet  # noqa: E402

SIZE = 64  # small maps keep the export and compilation to about a second; the graph is the same


@functools.cache
def _built(variant: str) -> nn.Module:
    torch.manual_seed(0)
    model = googlenet(variant, num_classes=10, aux_logits=False)
    for m in model.modules():  # batch norms far from the identity, so a wrong fold shows
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _assert_same_logits(got: torch.Tensor, expected: torch.Tensor) -> None:
    """Relative error at most 1e-5 of the largest logit."""
    assert got.shape == expected.shape and got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
def test_the_engine_gives_the_plain_models_logits(variant):
    model = _built(variant)
    assert isinstance(optimize_for_inference(model, engine="openvino"), engine.OpenVinoInference)
    # two cores whatever pytest's thread count: 1 image runs as one request; 3 images as three slices,
    # 5 images as four of unequal sizes (two compiled batch sizes), taken in turn by two streams
    fast = engine.OpenVinoInference(model, fallback=model, cores=2)
    for batch in (1, 3) if variant == "paper" else (1, 5):
        x = torch.randn(batch, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            _assert_same_logits(fast(x), model(x))
    assert list(fast._graphs) == [(3, SIZE, SIZE)]  # exported once for both batch sizes


class _OnlyLRN(nn.Module):
    def __init__(self, size: int):
        super().__init__()
        self.lrn = LocalResponseNorm(size, alpha=0.5, beta=0.75, k=2.0)  # a large alpha: a wrong scale shows

    def forward(self, x):
        return self.lrn(x)


def test_lrn_exports_as_one_onnx_lrn_node_with_caffes_alpha():
    onnx = pytest.importorskip("onnx")
    graph = onnx.load_from_string(engine.export_onnx(_OnlyLRN(5), channels=9, height=4, width=4))
    ops = [n.op_type for n in graph.graph.node]
    assert ops == ["LRN"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in graph.graph.node[0].attribute}
    assert attrs["size"] == 5 and attrs["alpha"] == pytest.approx(0.5) and attrs["bias"] == pytest.approx(2.0)


def test_onnx_lrn_run_by_the_engine_is_the_projects_lrn():
    # ONNX's LRN divides alpha by size (as Caffe and utils.network.lrn do): run both on values large
    # enough that the scale matters, at the first and last channels where the window is cut
    model = _OnlyLRN(5).eval()
    x = 3 * torch.randn(2, 9, 4, 4, generator=torch.Generator().manual_seed(0))
    fast = engine.OpenVinoInference(model, fallback=model)
    with torch.no_grad():
        _assert_same_logits(fast(x), model(x))


def test_an_even_lrn_window_is_refused():
    with pytest.raises(ValueError, match="size 4 is even"):
        engine.ExportableLRN(4, 1e-4, 0.75, 1.0)


def test_inputs_the_engine_does_not_take_go_to_the_fallback():
    calls = []

    class Fallback(nn.Module):
        def forward(self, x):
            calls.append(x.dtype)
            return torch.zeros(len(x), 10, dtype=x.dtype)

    fast = engine.OpenVinoInference(_built("paper"), fallback=Fallback())
    fast(torch.zeros(1, 3, SIZE, SIZE, dtype=torch.float64))
    fast(torch.zeros(1, 3, SIZE, SIZE, requires_grad=True))
    assert calls == [torch.float64, torch.float32] and not fast._graphs


def test_a_model_that_does_not_export_warns_once_and_stays_on_the_pytorch_path():
    class NoExport(nn.Module):
        def forward(self, x):
            return torch.fft.fft2(x).abs().flatten(1)  # complex numbers: not in ONNX's opset

    model = NoExport()
    fast = optimize_for_inference(model)
    x = torch.randn(1, 3, 8, 8)
    with pytest.warns(UserWarning, match="OpenVINO could not run this model"):
        got = fast(x)
    torch.testing.assert_close(got, model(x))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast(x)  # no second warning
    with pytest.raises(Exception):  # noqa: B017  asked for the engine by name: the failure is raised
        optimize_for_inference(model, engine="openvino")(x)


def test_a_deep_copy_runs_on_its_own():
    fast = optimize_for_inference(_built("torchvision"))
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        first = fast(x)
        twin = copy.deepcopy(fast)
        assert not twin._graphs
        _assert_same_logits(twin(x), first)


@pytest.mark.parametrize("n,parts", [(8, 4), (5, 4), (32, 4), (3, 2)])
def test_slices_cover_the_batch_once_with_sizes_within_one(n, parts):
    slices = engine._slices(n, parts)
    assert [i for s in slices for i in range(n)[s]] == list(range(n))
    sizes = [s.stop - s.start for s in slices]
    assert len(sizes) == parts and max(sizes) - min(sizes) <= 1
