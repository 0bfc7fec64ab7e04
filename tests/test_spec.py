"""Table 1 resolved once (utils.network.arch.layer_specs): every layer's size against PyTorch itself.

The independent source is a forward pass of the built network on the meta device (shapes only, no
arithmetic), recorded with hooks, at input sizes that exercise the pooling rules: odd sizes, sizes
just above a multiple of 32, and the 224/227 of the paper and of Caffe.
"""

import subprocess
import sys

import pytest
import torch

from utils.network import arch
from utils.network.arch import min_input_size, spatial_sizes
from utils.network.model import check_input, googlenet

SIZES = (32, 47, 96, 112, 224, 225, 227, 240)


def _record_shapes(model: torch.nn.Module, size: int) -> dict[str, tuple[int, ...]]:
    """Output shape (without the batch) of every named module, and the input of each aux head's conv
    (the output of its functional pool, ``auxN.pool``)."""
    shapes, handles = {}, []
    for name, m in model.named_modules():
        if not name:
            continue
        handles.append(m.register_forward_hook(
            lambda mod, args, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:]))))
        if name.endswith(".conv") and name.startswith("aux"):
            handles.append(m.register_forward_pre_hook(
                lambda mod, args, name=name: shapes.__setitem__(name.replace(".conv", ".pool"),
                                                                tuple(args[0].shape[1:]))))
    try:
        model(torch.empty(2, 3, size, size, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return shapes


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
@pytest.mark.parametrize("size", SIZES)
def test_spec_sizes_match_a_forward_pass_on_the_meta_device(variant, size):
    with torch.device("meta"):
        model = googlenet(variant, num_classes=10).train()
    if size < min_input_size(variant):
        with pytest.raises(ValueError, match="needs at least"):
            model(torch.empty(1, 3, size, size, device="meta"))
        return
    shapes = _record_shapes(model, size)
    specs = arch.layer_specs(variant, size, aux_logits=True, num_classes=10)
    checked = 0
    for spec in specs:
        if spec.kind == "softmax":  # not a module: the loss applies it
            continue
        got = shapes[spec.name.replace("concat", "")]
        if spec.kind in ("linear", "dropout"):
            assert got == (spec.out_channels,), spec.name
        else:
            assert got == (spec.out_channels, spec.out_size, spec.out_size), spec.name
        checked += 1
    # every layer of the spec was seen: 9 modules x 8 specs, the stem, the head and two aux heads
    assert checked == len(specs) - 1
    assert {s.name for s in specs} - {"softmax"} <= set(shapes)


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
def test_the_minimum_input_size_is_where_the_spec_first_has_no_output(variant):
    smallest = min_input_size(variant)
    assert smallest == 32  # the total stride; both variants' pools still give 1x1 there
    assert min(spatial_sizes(smallest, variant).values()) == 1
    # below the total stride the network would average padding, not image: refused
    with pytest.raises(ValueError, match=f"at least {smallest}x{smallest}"):
        check_input(torch.empty(1, 3, smallest - 1, 224, device="meta"), variant)
    check_input(torch.empty(1, 3, smallest, smallest, device="meta"), variant)


def test_pool_out_by_hand():
    # Caffe's ceil rounding without padding (paper variant): 112 -> 56, 56 -> 28, 28 -> 14, 14 -> 7
    assert [arch.pool_out(s, 3, 2, 0, True) for s in (112, 56, 28, 14)] == [56, 28, 14, 7]
    # floor rounding would lose a row: (112 - 3) // 2 + 1 = 55
    assert arch.pool_out(112, 3, 2, 0, False) == 55
    # ceil mode may not start a window in the right padding: 5 with k2 s2 p1 -> 3, not 4
    assert arch.pool_out(5, 2, 2, 1, True) == 3
    assert arch.pool_out(1, 3, 2, 0, True) == 0 and arch.pool_out(0, 3, 1, 1, True) == 0
    assert arch.conv_out(224, 7, 2, 3) == 112 and arch.conv_out(4, 7, 2, 0) == 0


def test_the_variants_differ_where_their_fields_say():
    paper = {s.name: s for s in arch.layer_specs("paper")}
    tv = {s.name: s for s in arch.layer_specs("torchvision")}
    assert paper["inception3a.branch3.1"].kernel == 5 and tv["inception3a.branch3.1"].kernel == 3
    assert (paper["maxpool4"].kernel, tv["maxpool4"].kernel) == (3, 2)
    assert "lrn1" in paper and "lrn1" not in tv
    aux = {s.name: s for s in arch.layer_specs("paper", aux_logits=True)}
    assert (aux["aux1.pool"].kernel, aux["aux1.pool"].stride, aux["aux1.pool"].out_size) == (5, 3, 4)
    tv_aux = {s.name: s for s in arch.layer_specs("torchvision", aux_logits=True)}
    assert tv_aux["aux1.pool"].kernel == 0 and tv_aux["aux1.pool"].out_size == 4  # adaptive
    # off 14x14 the paper's 5x5/3 pool would not give 4x4: the adaptive pool stands in
    assert {s.name: s for s in arch.layer_specs("paper", 288, aux_logits=True)}["aux1.pool"].kernel == 0


def test_layer_specs_rejects_a_bad_size_and_variant():
    with pytest.raises(ValueError, match="positive int"):
        arch.layer_specs("paper", 0)
    with pytest.raises(ValueError, match="unknown variant"):
        arch.layer_specs("alexnet")


def test_importing_arch_loads_no_torch():
    code = "import sys, utils.network.arch; utils.network.arch.layer_specs('paper'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
