"""The activation recorder: names, shapes, cloning, and hook clean-up."""

from __future__ import annotations

import pytest
import torch

from utils.network.hooks import BRANCHES, INCEPTION_MODULES, branch_names, default_names, record_activations
from utils.network.model import googlenet

# Table 1 (§5), branch output depths typed by hand: #1x1, #3x3, #5x5, pool proj.
TABLE1_BRANCHES = {
    "inception3a": (64, 128, 32, 32), "inception3b": (128, 192, 96, 64),
    "inception4a": (192, 208, 48, 64), "inception4b": (160, 224, 64, 64),
    "inception4c": (128, 256, 64, 64), "inception4d": (112, 288, 64, 64),
    "inception4e": (256, 320, 128, 128), "inception5a": (256, 320, 128, 128),
    "inception5b": (384, 384, 128, 128),
}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return googlenet("paper", num_classes=10, aux_logits=False).eval()


def _hook_count(model) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_default_names_cover_nine_modules_and_36_branches():
    names = default_names()
    assert len(names) == 9 + 9 * 4
    assert names[:5] == ["inception3a"] + [f"inception3a.branch{i}" for i in range(1, 5)]
    assert list(INCEPTION_MODULES) == list(TABLE1_BRANCHES)


def test_records_every_branch_with_table1_depths(model):
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), record_activations(model) as acts:
        model(x)
    assert set(acts) == set(default_names())
    for module, depths in TABLE1_BRANCHES.items():
        got = tuple(acts[f"{module}.{b}"].shape[1] for b in BRANCHES)
        assert got == depths, module
        # the module output is the four branches concatenated along channels (Figure 2(b))
        cat = torch.cat([acts[f"{module}.{b}"] for b in BRANCHES], 1)
        assert torch.equal(acts[module], cat)
        assert acts[module].shape[0] == 2 and not acts[module].requires_grad


def test_outputs_are_cloned_before_the_inplace_relu(model):
    # A conv output is overwritten in place by BasicConv2d's ReLU; a stored reference would show no negatives.
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad(), record_activations(model, ["inception3a.branch1.conv", "inception3a.branch1"]) as acts:
        model(x)
    pre, post = acts["inception3a.branch1.conv"], acts["inception3a.branch1"]
    assert (pre < 0).any()
    assert torch.equal(post, pre.clamp_min(0))


def test_hooks_are_removed_on_exit_and_on_error(model):
    before = _hook_count(model)
    with record_activations(model, branch_names("inception4c")):
        assert _hook_count(model) == before + 4
    assert _hook_count(model) == before
    with pytest.raises(RuntimeError, match="boom"), record_activations(model):
        raise RuntimeError("boom")
    assert _hook_count(model) == before


def test_unknown_names_are_rejected_with_the_valid_ones(model):
    with pytest.raises(ValueError, match="inception3c") as info, record_activations(model, ["inception3c"]):
        pass
    assert "inception3a.branch1" in str(info.value) and "inception5b.branch4" in str(info.value)
    with pytest.raises(ValueError, match="unknown Inception module"):
        branch_names("inception6a")
    with pytest.raises(ValueError, match="repeat"), record_activations(model, ["conv1", "conv1"]):
        pass
    assert _hook_count(model) == 0


def test_a_second_forward_replaces_the_record(model):
    with torch.no_grad(), record_activations(model, ["inception5b"]) as acts:
        model(torch.zeros(1, 3, 64, 64))
        first = acts["inception5b"]
        model(torch.ones(1, 3, 64, 64))
    assert not torch.equal(first, acts["inception5b"])
