"""The fast inference path (utils.network.fast) computes the same logits as the plain model."""

from __future__ import annotations

import copy
import functools

import pytest
import torch

from utils.network.fast import ConvReLU, fold_batch_norm, fuse_conv_relu, optimize_for_inference
from utils.network.model import googlenet


def _model_with_statistics(variant: str) -> torch.nn.Module:
    """A fresh copy of a model whose batch norms are far from the identity, so that a wrong fold shows."""
    return copy.deepcopy(_built(variant))


@functools.cache
def _built(variant: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = googlenet(variant, num_classes=10, aux_logits=False)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize("engine", ["torch", "auto"])
@pytest.mark.parametrize("variant", ["paper", "torchvision"])
def test_same_logits(variant, engine):
    model = _model_with_statistics(variant)
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    fast = optimize_for_inference(model, engine=engine)
    with torch.no_grad():
        expected, got = model(x), fast(x)
    assert got.shape == (2, 10)
    # relative error at most 1e-5 of the largest logit
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))


def test_engine_choice_and_its_fallback(monkeypatch):
    from utils.network import engine as engine_module
    from utils.network.fast import FastInference

    model = _model_with_statistics("torchvision")
    assert isinstance(optimize_for_inference(model, engine="torch"), FastInference)
    with pytest.raises(ValueError, match="unknown engine 'tensorrt'; choose one of auto, openvino, torch"):
        optimize_for_inference(model, engine="tensorrt")
    monkeypatch.setattr(engine_module, "available", lambda: False)  # as where openvino is not installed
    assert isinstance(optimize_for_inference(model), FastInference)
    with pytest.raises(ImportError, match="engine='torch'"):
        optimize_for_inference(model, engine="openvino")


def test_original_model_untouched():
    model = _model_with_statistics("torchvision")
    optimize_for_inference(model)
    assert model.conv1.bn is not None
    assert model.conv1.conv.weight.is_contiguous()


def test_fold_count_is_every_conv_of_the_inference_network():
    # Table 1: conv1, the 1x1 reduce conv2, conv3, and six convolutions in each of nine Inception modules
    model = _model_with_statistics("torchvision")
    assert fold_batch_norm(model) == 3 + 9 * 6
    assert fold_batch_norm(_model_with_statistics("paper")) == 0


def test_weights_are_channels_last():
    fast = optimize_for_inference(_model_with_statistics("torchvision"), engine="torch")
    assert fast.model.conv1.conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_training_mode_is_refused_with_advice():
    model = googlenet("torchvision", num_classes=10, aux_logits=False).train()
    with pytest.raises(ValueError, match="eval"):
        fold_batch_norm(model)


def test_not_a_module():
    with pytest.raises(ValueError, match="nn.Module"):
        optimize_for_inference("googlenet")


def _conv(cin=5, cout=7, k=3, stride=1, padding=1) -> torch.nn.Conv2d:
    torch.manual_seed(2)
    return torch.nn.Conv2d(cin, cout, k, stride=stride, padding=padding).eval().to(
        memory_format=torch.channels_last)


@pytest.mark.parametrize("k,stride,padding", [(1, 1, 0), (3, 1, 1), (7, 2, 3), (5, 1, 2)])
def test_conv_relu_matches_conv_then_relu(k, stride, padding):
    conv = _conv(k=k, stride=stride, padding=padding)
    fused = ConvReLU(conv)
    for shape in [(2, 5, 17, 17), (1, 5, 9, 12), (2, 5, 17, 17)]:  # a new shape, then one seen before
        x = torch.randn(shape, generator=torch.Generator().manual_seed(3)).contiguous(
            memory_format=torch.channels_last)
        with torch.no_grad():
            torch.testing.assert_close(fused(x), torch.relu(conv(x)), rtol=1e-5, atol=1e-5)


def test_conv_relu_keeps_the_latest_shapes_only():
    fused = ConvReLU(_conv(), shapes_kept=2)
    with torch.no_grad():
        for size in (8, 9, 10, 8):
            fused(torch.randn(1, 5, size, size).contiguous(memory_format=torch.channels_last))
    assert list(fused._reordered) == [torch.Size([1, 5, 10, 10]), torch.Size([1, 5, 8, 8])]


def test_conv_relu_falls_back_where_onednn_does_not_apply():
    conv = _conv()
    fused = ConvReLU(conv)
    x = torch.randn(2, 5, 11, 11, requires_grad=True)  # NCHW, and a gradient wanted
    y = fused(x)
    y.sum().backward()
    torch.testing.assert_close(y, torch.relu(conv(x)))
    assert x.grad is not None and not fused._reordered
    with torch.no_grad():
        fused(x.detach().double().float())  # still NCHW: nothing reordered
    assert not fused._reordered


def test_conv_relu_survives_deepcopy_and_refuses_grouped_convolutions():
    fused = ConvReLU(_conv())
    with torch.no_grad():
        fused(torch.randn(1, 5, 8, 8).contiguous(memory_format=torch.channels_last))
    twin = copy.deepcopy(fused)
    assert not twin._reordered and twin.conv.weight.data_ptr() != fused.conv.weight.data_ptr()
    with pytest.raises(ValueError, match="groups 1"):
        ConvReLU(torch.nn.Conv2d(4, 4, 3, groups=2))


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
def test_fast_path_fuses_every_conv_block(variant):
    fast = optimize_for_inference(_model_with_statistics(variant), engine="torch")
    blocks = [m for m in fast.modules() if isinstance(m, ConvReLU)]
    # Table 1: 3 stem convolutions + 6 per Inception module (the model is built without auxiliary heads)
    assert len(blocks) == 3 + 9 * 6
    model = _model_with_statistics(variant)
    assert fuse_conv_relu(model) == (3 + 9 * 6 if variant == "paper" else 0)  # BN blocks are left alone
