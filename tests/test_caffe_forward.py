"""The paper variant computes what BVLC's Caffe GoogLeNet computes (§5, Table 1, Figure 3).

The reference here is written from Caffe's layer semantics, not from utils.network.model: convolutions and
fully connected layers are F.conv2d / F.linear on the raw blobs, pools are explicit window arithmetic
(Caffe's ceil rounding, -inf padding, the last window starting inside the input), the LRN is written
out (across channels, alpha / size, k = 1, beta 0.75), and the auxiliary heads use Caffe's 5x5/3
average pool. It runs in float64 on blobs named as in BVLC's bvlc_googlenet/train_val.prototxt.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from utils.network.model import googlenet

# bvlc_googlenet's Inception modules, in order, and the output of each module's branches.
INCEPTIONS = ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]
# BVLC branch layer name -> this project's branch module (Figure 2(b)).
BRANCH_MODULES = {"1x1": "branch1", "3x3_reduce": "branch2.0", "3x3": "branch2.1",
                  "5x5_reduce": "branch3.0", "5x5": "branch3.1", "pool_proj": "branch4.1"}


def bvlc_names_of_paper_variant() -> dict[str, str]:
    """BVLC layer name -> paper-variant module, typed from BVLC's prototxt and utils.network.model's attributes."""
    names = {"conv1/7x7_s2": "conv1.conv", "conv2/3x3_reduce": "conv2.conv", "conv2/3x3": "conv3.conv"}
    for m in INCEPTIONS:
        for b, module in BRANCH_MODULES.items():
            names[f"inception_{m}/{b}"] = f"inception{m}.{module}.conv"
    for loss, aux in (("loss1", "aux1"), ("loss2", "aux2")):
        names.update({f"{loss}/conv": f"{aux}.conv.conv", f"{loss}/fc": f"{aux}.fc1",
                      f"{loss}/classifier": f"{aux}.fc2"})
    names["loss3/classifier"] = "fc"
    return names


def bvlc_blobs(state_dict) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """A paper-variant state dict as BVLC's blobs: (weight, bias) per layer, conv1 taking BGR."""
    blobs = {}
    for name, module in bvlc_names_of_paper_variant().items():
        w, b = state_dict[f"{module}.weight"], state_dict[f"{module}.bias"]
        if name == "conv1/7x7_s2":
            w = w[:, [2, 1, 0]]  # Caffe's input is BGR
        blobs[name] = (w.detach().clone(), b.detach().clone())
    return blobs


# ----------------------------------------------------------------------------- Caffe's layers
def caffe_pooled_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """pooling_layer.cpp: ceil((size + 2 pad - kernel) / stride) + 1, minus one if the last window
    would start in the padding."""
    out = int(math.ceil((size + 2 * pad - kernel) / stride)) + 1
    if pad and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def caffe_max_pool(x, kernel, stride, pad=0):
    """Max over each window clipped to the input: the same as padding with -inf."""
    h, w = x.shape[-2:]
    oh, ow = caffe_pooled_size(h, kernel, stride, pad), caffe_pooled_size(w, kernel, stride, pad)
    assert (oh - 1) * stride < h + pad and (ow - 1) * stride < w + pad  # every window starts inside
    right = max(0, (ow - 1) * stride + kernel - w - pad)
    bottom = max(0, (oh - 1) * stride + kernel - h - pad)
    x = F.pad(x, (pad, right, pad, bottom), value=-math.inf)
    windows = x.unfold(2, kernel, stride).unfold(3, kernel, stride)[:, :, :oh, :ow]
    return windows.amax(dim=(-1, -2))


def caffe_avg_pool(x, kernel, stride):
    """Average pool without padding: the sum over each window divided by its cells inside the input."""
    h, w = x.shape[-2:]
    oh, ow = caffe_pooled_size(h, kernel, stride, 0), caffe_pooled_size(w, kernel, stride, 0)
    right, bottom = max(0, (ow - 1) * stride + kernel - w), max(0, (oh - 1) * stride + kernel - h)
    total = F.pad(x, (0, right, 0, bottom)).unfold(2, kernel, stride).unfold(3, kernel, stride)
    count = F.pad(torch.ones_like(x[:1, :1]), (0, right, 0, bottom)).unfold(2, kernel, stride).unfold(3, kernel, stride)
    return total[:, :, :oh, :ow].sum(dim=(-1, -2)) / count[:, :, :oh, :ow].sum(dim=(-1, -2))


def caffe_lrn(x, size=5, alpha=1e-4, beta=0.75, k=1.0):
    """lrn_layer.cpp, ACROSS_CHANNELS: x / (k + alpha / size * sum of x^2 over size channels) ^ beta."""
    half = (size - 1) // 2
    sq = F.pad(x * x, (0, 0, 0, 0, half, size - 1 - half))
    window = sum(sq[:, i:i + x.shape[1]] for i in range(size))
    return x / (k + alpha / size * window) ** beta


def conv_relu(blobs, name, x, pad=0, stride=1):
    w, b = blobs[name]
    return F.relu(F.conv2d(x, w, b, stride=stride, padding=pad))


def inception(blobs, m, x):
    p = f"inception_{m}/"
    b1 = conv_relu(blobs, p + "1x1", x)
    b2 = conv_relu(blobs, p + "3x3", conv_relu(blobs, p + "3x3_reduce", x), pad=1)
    b3 = conv_relu(blobs, p + "5x5", conv_relu(blobs, p + "5x5_reduce", x), pad=2)
    b4 = conv_relu(blobs, p + "pool_proj", caffe_max_pool(x, 3, 1, pad=1))
    return torch.cat([b1, b2, b3, b4], 1)


def aux_head(blobs, loss, x):
    """loss1 / loss2 in train_val.prototxt: ave pool 5/3, 1x1 conv 128, fc 1024, dropout (off), classifier."""
    x = conv_relu(blobs, f"{loss}/conv", caffe_avg_pool(x, 5, 3))
    x = F.relu(F.linear(torch.flatten(x, 1), *blobs[f"{loss}/fc"]))
    return F.linear(x, *blobs[f"{loss}/classifier"])


def caffe_forward(blobs, x_bgr, aux=False):
    """BVLC's GoogLeNet on a BGR batch already minus its mean: logits, or with ``aux`` (logits, loss1
    logits, loss2 logits); the auxiliary heads fit only where (4a) and (4d) are 14x14 (224-227 px)."""
    blobs = {k: (w.double(), b.double()) for k, (w, b) in blobs.items()}
    x = conv_relu(blobs, "conv1/7x7_s2", x_bgr.double(), pad=3, stride=2)
    x = caffe_lrn(caffe_max_pool(x, 3, 2))
    x = conv_relu(blobs, "conv2/3x3", conv_relu(blobs, "conv2/3x3_reduce", x), pad=1)
    x = caffe_max_pool(caffe_lrn(x), 3, 2)
    x = inception(blobs, "3b", inception(blobs, "3a", x))
    x = inception(blobs, "4a", caffe_max_pool(x, 3, 2))
    aux1 = aux_head(blobs, "loss1", x) if aux else None
    x = inception(blobs, "4d", inception(blobs, "4c", inception(blobs, "4b", x)))
    aux2 = aux_head(blobs, "loss2", x) if aux else None
    x = caffe_max_pool(inception(blobs, "4e", x), 3, 2)
    x = inception(blobs, "5b", inception(blobs, "5a", x))
    # pool5/7x7_s1 averages the whole 7x7 map at 224-227 px; on larger maps BVLC's classifier would
    # not fit, and the model averages the whole map, so the reference does too.
    x = x.sum(dim=(-1, -2)) / (x.shape[-1] * x.shape[-2])
    logits = F.linear(x, *blobs["loss3/classifier"])
    return (logits, aux1, aux2) if aux else logits


def relative_error(a, b) -> float:
    return ((a.double() - b.double()).abs().max() / b.double().abs().max()).item()


# ----------------------------------------------------------------------------- tests
def random_paper_model(seed=0):
    """The paper variant with its own init and random biases, so that every bias is exercised."""
    torch.manual_seed(seed)
    model = googlenet("paper", num_classes=1000, aux_logits=True)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.uniform_(-0.1, 0.1)
    return model


def caffe_scaled_input(size, seed):
    """Pixels on Caffe's scale (0-255 minus a mean), so that the LRN's alpha term matters."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, size, size, generator=g) * 255 - 120


def test_reference_responds_to_its_input():
    blobs = bvlc_blobs(random_paper_model().state_dict())
    a = caffe_forward(blobs, caffe_scaled_input(224, 1))
    b = caffe_forward(blobs, caffe_scaled_input(224, 2))
    # Global averaging makes two noise images alike; still a hundred times the tolerance below.
    assert relative_error(a, b) > 1e-2


def test_lrn_reference_has_caffes_values():
    # One pixel, channels 1..7: channel 3's window is channels 1..5 (k 1, alpha/5, beta 0.75).
    x = torch.arange(1.0, 8.0, dtype=torch.float64).view(1, 7, 1, 1) * 10
    expected = 30 / (1 + 1e-4 / 5 * sum((10.0 * c) ** 2 for c in range(1, 6))) ** 0.75
    assert caffe_lrn(x)[0, 2, 0, 0].item() == pytest.approx(expected, rel=1e-12)


def test_pool_reference_follows_caffes_rounding():
    # Caffe: 112 -> 56 (3x3/2, ceil) and 113 -> 56, 114 -> 57; Inception's 3x3/1 pad 1 keeps the size.
    assert [caffe_pooled_size(s, 3, 2, 0) for s in (112, 113, 114, 15, 14)] == [56, 56, 57, 7, 7]
    assert caffe_pooled_size(28, 3, 1, 1) == 28 and caffe_pooled_size(14, 5, 3, 0) == 4
    x = torch.arange(16.0).view(1, 1, 4, 4)
    # ceil gives two windows along each side of a 4x4 map: rows/columns {0,1,2} and {2,3}.
    assert caffe_max_pool(x, 3, 2).flatten().tolist() == [10.0, 11.0, 14.0, 15.0]


@pytest.mark.parametrize("size", [224, 225, 227, 240])
def test_paper_variant_matches_caffe_forward(size):
    model = random_paper_model().eval()
    blobs = bvlc_blobs(model.state_dict())
    x = caffe_scaled_input(size, size)
    with torch.no_grad():
        ours = model(x)
    reference = caffe_forward(blobs, x.flip(1))  # the model takes RGB, Caffe BGR
    assert relative_error(ours, reference) <= 1e-4


@pytest.mark.parametrize("size", [224, 227])  # (4a) and (4d) are 14x14, as BVLC's heads need
def test_paper_variant_aux_heads_match_caffe_forward(size):
    model = random_paper_model().train()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0  # the reference leaves dropout out
    blobs = bvlc_blobs(model.state_dict())
    x = caffe_scaled_input(size, size + 1)
    with torch.no_grad():
        out = model(x)
    logits, loss1, loss2 = caffe_forward(blobs, x.flip(1), aux=True)
    assert relative_error(out.logits, logits) <= 1e-4
    assert relative_error(out.aux_logits1, loss1) <= 1e-4  # loss1 sits on inception (4a)
    assert relative_error(out.aux_logits2, loss2) <= 1e-4  # loss2 on (4d)
