"""The fast inference path (utils.fast) computes the same logits as the plain model."""

from __future__ import annotations

import copy
import functools

import pytest
import torch

from utils.fast import fold_batch_norm, optimize_for_inference
from utils.model import googlenet


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


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
def test_same_logits(variant):
    model = _model_with_statistics(variant)
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    fast = optimize_for_inference(model)
    with torch.no_grad():
        expected, got = model(x), fast(x)
    assert got.shape == (2, 10)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


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
    fast = optimize_for_inference(_model_with_statistics("torchvision"))
    assert fast.model.conv1.conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_training_mode_is_refused_with_advice():
    model = googlenet("torchvision", num_classes=10, aux_logits=False).train()
    with pytest.raises(ValueError, match="eval"):
        fold_batch_norm(model)


def test_not_a_module():
    with pytest.raises(ValueError, match="nn.Module"):
        optimize_for_inference("googlenet")
