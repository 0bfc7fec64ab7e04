"""The network: parameter counts from independent sources, shapes, variants and bad input."""

import copy

import pytest
import torch
import torchvision

from utils.network import arch
from utils.network.arch import min_input_size
from utils.network.lrn import LocalResponseNorm
from utils.network.model import GoogLeNetOutputs, googlenet


def num_params(model):
    return sum(p.numel() for p in model.parameters())


def conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def bn(c):
    return 2 * c


def inception_params(cin, c1, c3r, c3, c5r, c5, pp, k5=5, bias=True):
    """Hand arithmetic from Table 1's channel columns (Figure 2(b))."""
    extra = (lambda c: bn(c)) if not bias else (lambda c: 0)
    return sum(conv(a, b, k, bias) + extra(b) for a, b, k in [
        (cin, c1, 1), (cin, c3r, 1), (c3r, c3, 3), (cin, c5r, 1), (c5r, c5, k5), (cin, pp, 1)])


# (in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), typed from Table 1 of the paper.
MODULES = [(192, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64),
           (480, 192, 96, 208, 16, 48, 64), (512, 160, 112, 224, 24, 64, 64),
           (512, 128, 128, 256, 24, 64, 64), (512, 112, 144, 288, 32, 64, 64),
           (528, 256, 160, 320, 32, 128, 128), (832, 256, 160, 320, 32, 128, 128),
           (832, 384, 192, 384, 48, 128, 128)]


def paper_params_by_hand(aux):
    total = conv(3, 64, 7) + conv(64, 64, 1) + conv(64, 192, 3)
    total += sum(inception_params(*m) for m in MODULES)
    total += 1024 * 1000 + 1000
    if aux:  # §5: 1x1 conv 128, FC 1024 on 4x4x128 = 2048 inputs, linear to 1000; on 4a (512) and 4d (528)
        total += sum(conv(c, 128, 1) + 2048 * 1024 + 1024 + 1024 * 1000 + 1000 for c in (512, 528))
    return total


def test_paper_variant_parameters_match_hand_arithmetic_without_aux():
    assert num_params(googlenet("paper", aux_logits=False)) == paper_params_by_hand(aux=False)


def test_paper_variant_parameters_match_hand_arithmetic_with_aux():
    assert num_params(googlenet("paper", aux_logits=True)) == paper_params_by_hand(aux=True)


def test_torchvision_variant_has_torchvisions_published_parameter_count():
    # torchvision's docs: GoogLeNet_Weights.IMAGENET1K_V1 has 6,624,904 parameters (no aux heads).
    assert num_params(googlenet("torchvision", aux_logits=False)) == 6_624_904


def test_torchvision_variant_with_aux_matches_torchvision_model():
    reference = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True)
    assert num_params(googlenet("torchvision", aux_logits=True)) == num_params(reference)


# The stages torchvision's GoogLeNet and the torchvision variant share by name, in forward order.
STAGES = ("conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
          "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
          "inception5a", "inception5b", "avgpool", "fc")
RTOL = 1e-4  # relative to the largest value of the stage; float32 reorderings stay near 1e-6


def _responsive_torchvision_reference(seed=0):
    """torchvision's GoogLeNet with weights whose output depends on the input.

    Its own init (truncated normal, std 0.01, and identity batch norm) shrinks the signal so much
    that every input gives the same logits. He-normal convolutions, 1/sqrt(fan_in) linear layers
    and random batch-norm statistics and affine terms keep the image in the logits.
    """
    torch.manual_seed(seed)
    ref = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False,
                                       transform_input=True)
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif isinstance(m, torch.nn.Linear):
                torch.nn.init.normal_(m.weight, std=m.in_features ** -0.5)
                m.bias.uniform_(-0.1, 0.1)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return ref.eval()


def _relative_error(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def _stage_outputs(model, x):
    seen = {}
    hooks = [getattr(model, k).register_forward_hook(lambda m, i, o, k=k: seen.__setitem__(k, o.detach().clone()))
             for k in STAGES]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def stage_mismatches(model, ref, x, rtol=RTOL):
    """Stages (in forward order) where ``model`` and ``ref`` differ in shape or by more than ``rtol``."""
    ours, theirs = _stage_outputs(model, x), _stage_outputs(ref, x)
    bad = {}
    for k in STAGES:
        if ours[k].shape != theirs[k].shape:
            bad[k] = f"shape {tuple(ours[k].shape)} vs {tuple(theirs[k].shape)}"
        elif (err := _relative_error(ours[k], theirs[k])) > rtol:
            bad[k] = f"relative error {err:.2g}"
    return bad


@pytest.fixture(scope="module")
def tv_pair():
    ref = _responsive_torchvision_reference()
    model = googlenet("torchvision")
    assert list(model.state_dict()) == list(ref.state_dict())
    model.load_state_dict(ref.state_dict(), strict=True)
    return model.eval(), ref


def test_torchvision_reference_responds_to_its_input(tv_pair):
    _, ref = tv_pair
    with torch.no_grad():
        a, b = ref(torch.randn(2, 3, 224, 224)), ref(torch.randn(2, 3, 224, 224))
    # two noise images average to similar features, yet differ a hundred times the tolerance
    assert _relative_error(a, b) > 100 * RTOL


@pytest.mark.parametrize("size", [(224, 224), (97, 130)])
def test_torchvision_variant_matches_torchvision_stage_by_stage(tv_pair, size):
    model, ref = tv_pair
    assert stage_mismatches(model, ref, torch.randn(2, 3, *size)) == {}


def test_torchvision_aux_outputs_match_in_training_mode(tv_pair):
    model, ref = copy.deepcopy(tv_pair[0]).train(), copy.deepcopy(tv_pair[1]).train()
    x = torch.randn(2, 3, 224, 224)
    torch.manual_seed(1)  # the same dropout masks: both draw them in the order aux1, aux2, main
    ours = model(x)
    torch.manual_seed(1)
    theirs = ref(x)
    assert ours._fields == theirs._fields == ("logits", "aux_logits2", "aux_logits1")
    for name in theirs._fields:
        assert _relative_error(getattr(ours, name).detach(), getattr(theirs, name).detach()) <= RTOL, name


def _bn_eps(model, eps):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = eps


MUTANTS = {  # the change, and the first stage where it must show
    "transform_input off": (lambda m: setattr(m, "transform_input", False), "conv1"),
    "batch-norm eps 1e-5": (lambda m: _bn_eps(m, 1e-5), "conv1"),
    "maxpool2 padding 1": (lambda m: setattr(m.maxpool2, "padding", 1), "maxpool2"),
    "3x3 maxpool4": (lambda m: setattr(m, "maxpool4", torch.nn.MaxPool2d(3, 2, ceil_mode=True)), "maxpool4"),
}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_each_torchvision_mutant_fails_the_comparison(tv_pair, mutant):
    mutate, first = MUTANTS[mutant]
    model = copy.deepcopy(tv_pair[0])
    mutate(model)
    bad = stage_mismatches(model, tv_pair[1], torch.randn(2, 3, 224, 224))
    assert next(iter(bad), None) == first, bad
    assert "fc" in bad  # and it reaches the logits


def test_training_mode_returns_named_aux_outputs_and_eval_returns_logits():
    model = googlenet("paper", num_classes=10)
    model.train()
    out = model(torch.randn(2, 3, 224, 224))
    assert isinstance(out, GoogLeNetOutputs)
    assert out._fields == ("logits", "aux_logits2", "aux_logits1")  # torchvision's order
    assert all(t.shape == (2, 10) for t in out)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 224, 224)).shape == (2, 10)


def test_without_aux_heads_training_mode_returns_plain_logits():
    model = googlenet("paper", num_classes=10, aux_logits=False).train()
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
def test_feature_map_sizes_follow_table1_at_224(variant):
    model = googlenet(variant, aux_logits=False).eval()
    seen = {}
    hooks = [getattr(model, k).register_forward_hook(
        lambda m, i, o, k=k: seen.__setitem__(k, tuple(o.shape[1:])))
        for k in ("conv1", "maxpool1", "conv3", "maxpool2", "inception3b", "inception4e", "inception5b")]
    with torch.no_grad():
        model(torch.randn(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    # Table 1's output size column.
    assert seen == {"conv1": (64, 112, 112), "maxpool1": (64, 56, 56), "conv3": (192, 56, 56),
                    "maxpool2": (192, 28, 28), "inception3b": (480, 28, 28),
                    "inception4e": (832, 14, 14), "inception5b": (1024, 7, 7)}


def test_paper_variant_uses_true_5x5_kernels_and_lrn_and_torchvision_does_not():
    paper, tv = googlenet("paper"), googlenet("torchvision")
    assert paper.inception3a.branch3[1].conv.kernel_size == (5, 5)
    assert tv.inception3a.branch3[1].conv.kernel_size == (3, 3)
    assert isinstance(paper.lrn1, LocalResponseNorm) and tv.lrn1 is None
    assert paper.inception3a.branch1.conv.bias is not None and tv.inception3a.branch1.conv.bias is None
    assert paper.dropout.p == 0.4 and tv.dropout.p == 0.2
    assert paper.aux1.dropout.p == 0.7


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
@pytest.mark.parametrize("size", [(None, None), (160, 200), (320, 288)])
def test_any_size_at_or_above_the_minimum_works_in_both_modes(variant, size):
    smallest = min_input_size(variant)
    h, w = (smallest, smallest) if size[0] is None else size
    model = googlenet(variant, num_classes=7)
    model.train()
    assert [t.shape for t in model(torch.randn(2, 3, h, w))] == [(2, 7)] * 3
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, h, w)).shape == (1, 7)


def test_aux_pool_is_the_papers_5x5_stride_3_at_224():
    model = googlenet("paper", num_classes=5).train()
    x = torch.randn(1, 512, 14, 14)
    pooled = torch.nn.functional.avg_pool2d(x, 5, 3)
    assert pooled.shape[-2:] == (4, 4)  # §5: 4x4x512 for (4a)
    conv_in = {}
    h = model.aux1.conv.register_forward_pre_hook(lambda m, args: conv_in.update(x=args[0]))
    model.aux1(x)
    h.remove()
    assert torch.equal(conv_in["x"], pooled)


@pytest.mark.parametrize("side", [13, 14, 16, 17])
def test_aux_pool_follows_the_spec_at_each_map_size(side):
    model = googlenet("paper", num_classes=5).train()
    x = torch.randn(1, 512, side, side)
    fixed = arch.aux_layers(512, 5, "paper", size=side)[0].kernel  # 0: the spec pools adaptively
    F = torch.nn.functional
    expected = F.avg_pool2d(x, 5, 3) if fixed else F.adaptive_avg_pool2d(x, (4, 4))
    conv_in = {}
    h = model.aux1.conv.register_forward_pre_hook(lambda m, args: conv_in.update(x=args[0]))
    model.aux1(x)
    h.remove()
    assert torch.equal(conv_in["x"], expected)
    assert bool(fixed) == (side in (14, 16))  # (side - 5) // 3 + 1 == 4 for 14, 15, 16 only


def _call_order(model, x):
    """The model's direct children in the order the forward pass calls them."""
    calls, handles = [], []
    for name, child in model.named_children():
        handles.append(child.register_forward_pre_hook(lambda m, args, name=name: calls.append(name)))
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return calls


def _spec_order(variant, input_size=224):
    """The same order read from the spec: the main path, each aux head after the module it sits on."""
    order = []
    for spec in arch.layer_specs(variant, input_size, aux_logits=True):
        name = spec.row if spec.row.startswith("aux") else spec.name if spec.on_main_path else None
        if name is not None and spec.kind != "softmax" and (not order or order[-1] != name):
            order.append(name)
    return order


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
def test_forward_calls_the_modules_in_the_order_of_the_spec(variant):
    model = googlenet(variant, num_classes=5).train()
    order = _spec_order(variant)
    assert order.index("aux1") == order.index("inception4a") + 1  # §5: the heads sit on 4a and 4d
    assert order.index("aux2") == order.index("inception4d") + 1
    assert _call_order(model, torch.randn(1, 3, 224, 224)) == order
    with torch.no_grad():  # without the heads in eval mode
        assert _call_order(model.eval(), torch.randn(1, 3, 224, 224)) == [n for n in order if n not in ("aux1", "aux2")]


@pytest.fixture
def heads_on_4b_and_4e(monkeypatch):
    """Table 1 with the auxiliary heads moved to (4b) and (4e): a spec the forward pass must follow."""
    monkeypatch.setattr(arch, "AUX_ON", {"aux1": "inception4b", "aux2": "inception4e"})
    arch._layer_specs.cache_clear()  # the resolved specs are cached per variant and size
    yield
    monkeypatch.undo()
    arch._layer_specs.cache_clear()


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
def test_moving_an_aux_head_in_the_spec_moves_it_in_the_forward(heads_on_4b_and_4e, variant):
    model = googlenet(variant, num_classes=5).train()
    assert model.aux2.conv.conv.in_channels == 832  # built for (4e), as the spec now says
    order = _spec_order(variant)
    assert order.index("aux1") == order.index("inception4b") + 1
    assert order.index("aux2") == order.index("inception4e") + 1
    taps, handles = {}, []
    for head, on in (("aux1", "inception4b"), ("aux2", "inception4e")):
        handles.append(getattr(model, on).register_forward_hook(
            lambda m, args, out, on=on: taps.__setitem__(on, out.detach().clone())))
        handles.append(getattr(model, head).register_forward_pre_hook(
            lambda m, args, head=head: taps.__setitem__(head, args[0].detach().clone())))
    x = torch.randn(1, 3, 224, 224)
    assert _call_order(model, x) == order
    for h in handles:
        h.remove()
    assert torch.equal(taps["aux1"], taps["inception4b"]) and torch.equal(taps["aux2"], taps["inception4e"])


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
def test_too_small_input_raises_value_error_naming_the_minimum(variant):
    smallest = min_input_size(variant)
    model = googlenet(variant).eval()
    with pytest.raises(ValueError, match=f"at least {smallest}x{smallest}"):
        model(torch.randn(1, 3, smallest - 1, 224))


def test_wrong_channel_count_raises_value_error():
    with pytest.raises(ValueError, match="3 colour channels.*got 1"):
        googlenet().eval()(torch.randn(1, 1, 224, 224))


@pytest.mark.parametrize("shape", [(3, 224, 224), (224, 224), (1, 1, 3, 224, 224)])
def test_non_nchw_input_raises_value_error(shape):
    with pytest.raises(ValueError, match="4-D tensor N x 3 x H x W"):
        googlenet().eval()(torch.randn(*shape))


def test_unknown_variant_is_rejected():
    with pytest.raises(ValueError, match="unknown variant 'inception_v3'"):
        googlenet("inception_v3")


def test_feature_info_names_the_inception_outputs():
    info = {f["module"]: f for f in googlenet().feature_info}
    assert info["inception3a"]["num_chs"] == 256 and info["inception3a"]["reduction"] == 8
    assert info["inception5b"]["num_chs"] == 1024 and info["inception5b"]["reduction"] == 32
