"""GoogLeNet (§5, Table 1, Figure 3) built from the Table 1 data in :mod:`utils.arch`.

One code path builds two networks:

* ``variant="paper"``: the network the paper describes. ReLU convolutions with bias, local response
  normalisation after the first max pool and after the 3x3 convolution (Figure 3), true 5x5 kernels
  in the 5x5 branch, 3x3/2 max pools, a 7x7 average pool, dropout 40%, and the two auxiliary
  classifiers of §5 on inception (4a) and (4d).
* ``variant="torchvision"``: torchvision's ``googlenet``, whose weights were ported from TF-slim's
  Inception v1. Its state_dict keys are identical to ``torchvision.models.googlenet``, so its
  weights load with ``strict=True`` and give the same logits.

Every difference between the two is a field of :class:`Variant`, with its source in a comment.
"""

from __future__ import annotations

import math
from collections import namedtuple
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import arch
from .lrn import LocalResponseNorm

# torchvision's field names and order, so that code written for torchvision.models.googlenet
# (``out.logits``, ``out.aux_logits2``, ``out.aux_logits1``, or unpacking) works unchanged.
GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])
GoogLeNetOutputs.__doc__ = """Training-mode output: the main classifier and the two auxiliary ones.

``aux_logits1`` comes from the head on inception (4a), ``aux_logits2`` from the head on (4d) (§5).
"""


@dataclass(frozen=True)
class Variant:
    """What differs between the paper's network and torchvision's port of it."""

    name: str
    batch_norm: bool  # BN after every conv, conv without bias; the paper has neither (§5 predates BN)
    lrn: bool  # Figure 3's two LocalRespNorm layers
    branch3_kernel: int  # kernel of the "5x5" branch
    pool_padding: int  # padding of the stride-2 max pools
    pool_ceil_mode: bool
    maxpool4_kernel: int  # the pool between 4e and 5a
    dropout: float  # before the final linear layer
    aux_fixed_pool: bool  # §5's 5x5/3 average pool at 14x14 (else always adaptive to 4x4)
    transform_input: bool  # re-normalise ImageNet-normalised input to the [-1, 1] range of TF-slim


PAPER = Variant(
    name="paper",
    batch_norm=False,  # §5: "All the convolutions ... use rectified linear activation"; no BN
    lrn=True,  # Figure 3: LocalRespNorm after the first max pool and after the 3x3 conv
    branch3_kernel=5,  # Table 1: "#5×5"
    # BVLC's Caffe replication (models/bvlc_googlenet): 3x3/2 pools with pad 0 and Caffe's ceil
    # rounding, so 112 -> 56 -> 28 -> 14 -> 7 as Table 1 prints, each window starting on the map.
    pool_padding=0,
    pool_ceil_mode=True,
    maxpool4_kernel=3,  # Table 1: max pool 3×3/2 before 5a
    dropout=arch.DROPOUT,  # Table 1: dropout (40%)
    aux_fixed_pool=True,  # §5: "average pooling layer with 5×5 filter size and stride 3"
    transform_input=False,
)

TORCHVISION = Variant(
    name="torchvision",
    batch_norm=True,  # torchvision googlenet.py BasicConv2d: BN(eps=0.001), conv bias=False (TF-slim port)
    lrn=False,  # torchvision googlenet.py: no LRN layers
    branch3_kernel=3,  # torchvision googlenet.py: 3x3 in the "5x5" branch, a known bug (vision#906)
    pool_padding=0,
    pool_ceil_mode=True,  # torchvision googlenet.py: MaxPool2d(3, 2, ceil_mode=True)
    maxpool4_kernel=2,  # torchvision googlenet.py: maxpool4 = MaxPool2d(2, 2, ceil_mode=True)
    dropout=0.2,  # torchvision googlenet.py: GoogLeNet(dropout=0.2)
    aux_fixed_pool=False,  # torchvision googlenet.py: adaptive_avg_pool2d(x, (4, 4)) in InceptionAux
    transform_input=True,  # torchvision sets transform_input=True when loading IMAGENET1K_V1
)

VARIANTS = {v.name: v for v in (PAPER, TORCHVISION)}

# torchvision's ImageNet statistics; transform_input maps them onto TF-slim's (x - 0.5) / 0.5.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def get_variant(variant: str | Variant) -> Variant:
    if isinstance(variant, Variant):
        return variant
    try:
        return VARIANTS[variant]
    except KeyError:
        raise ValueError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS)}") from None


class BasicConv2d(nn.Module):
    """Convolution + ReLU (paper), or convolution + batch norm + ReLU (torchvision).

    The paper's convolutions carry a bias; torchvision's carry batch norm instead, with the
    attribute names ``conv`` and ``bn`` that its state_dict uses.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, variant: Variant,
                 stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=not variant.batch_norm)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001) if variant.batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x, inplace=True)


class Inception(nn.Module):
    """The Inception module with dimension reductions (§4, Figure 2(b)).

    Four branches run side by side on the same input and are concatenated along channels:
    ``branch1`` 1x1; ``branch2`` 1x1 reduction then 3x3; ``branch3`` 1x1 reduction then 5x5
    (3x3 in torchvision's variant); ``branch4`` 3x3/1 max pool then 1x1 projection.

    Shape:
        (N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int, variant: Variant = PAPER):
        super().__init__()
        k = variant.branch3_kernel
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1, variant)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, 1, variant),
            BasicConv2d(ch3x3red, ch3x3, 3, variant, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, 1, variant),
            BasicConv2d(ch5x5red, ch5x5, k, variant, padding=k // 2),
        )
        self.branch4 = nn.Sequential(
            # the same-size pool of Figure 2; torchvision adds ceil_mode, which changes nothing at stride 1
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=variant.pool_ceil_mode),
            BasicConv2d(in_channels, pool_proj, 1, variant),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)

    @classmethod
    def from_row(cls, row: arch.Row, in_channels: int, variant: Variant) -> Inception:
        return cls(in_channels, row.ch1x1, row.ch3x3red, row.ch3x3, row.ch5x5red, row.ch5x5,
                   row.pool_proj, variant)


class InceptionAux(nn.Module):
    """An auxiliary classifier (§5): 5x5/3 average pool, 1x1 conv 128, FC 1024, dropout 70%, linear.

    On a 14x14 map the pool gives the paper's 4x4. On other input sizes the map is not 14x14, so
    an adaptive average pool to 4x4 takes its place: that keeps ``fc1``'s 2048 inputs, and so the
    weights, valid for any input size. torchvision always pools adaptively.

    Shape:
        (N, C, H, W) -> (N, num_classes)
    """

    def __init__(self, in_channels: int, num_classes: int, variant: Variant = PAPER):
        super().__init__()
        self.fixed_pool = variant.aux_fixed_pool
        self.conv = BasicConv2d(in_channels, arch.AUX_CONV_CHANNELS, 1, variant)
        ph, pw = arch.AUX_POOLED_HW
        self.fc1 = nn.Linear(arch.AUX_CONV_CHANNELS * ph * pw, arch.AUX_FC_FEATURES)
        self.fc2 = nn.Linear(arch.AUX_FC_FEATURES, num_classes)
        self.dropout = nn.Dropout(arch.AUX_DROPOUT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel, stride = arch.AUX_POOL
        if self.fixed_pool and (x.shape[-2] - kernel) // stride + 1 == arch.AUX_POOLED_HW[0] and \
                (x.shape[-1] - kernel) // stride + 1 == arch.AUX_POOLED_HW[1]:
            x = F.avg_pool2d(x, kernel, stride)
        else:
            x = F.adaptive_avg_pool2d(x, arch.AUX_POOLED_HW)
        x = self.conv(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x), inplace=True)
        return self.fc2(self.dropout(x))


class GoogLeNet(nn.Module):
    """GoogLeNet (§5, Table 1, Figure 3), built row by row from :data:`utils.arch.TABLE1`.

    In training mode with ``aux_logits=True`` the forward pass returns :class:`GoogLeNetOutputs`;
    otherwise it returns the main logits only (§5: the auxiliary networks are discarded at
    inference).

    Shape:
        (N, 3, H, W) with H, W >= :func:`min_input_size` -> (N, num_classes)
    """

    def __init__(self, variant: str | Variant = "paper", num_classes: int = 1000,
                 aux_logits: bool = True, transform_input: bool | None = None,
                 dropout: float | None = None):
        super().__init__()
        v = get_variant(variant)
        self.variant = v
        self.num_classes = num_classes
        self.aux_logits = aux_logits
        self.transform_input = v.transform_input if transform_input is None else transform_input
        depth = arch.IN_CHANNELS
        aux_in: dict[str, int] = {}
        for r in arch.TABLE1:
            if r.kind == "conv" and r.key == "conv1":
                kernel, stride = r.kernel_stride
                self.conv1 = BasicConv2d(depth, r.out_channels, kernel, v, stride=stride,
                                         padding=kernel // 2)
            elif r.kind == "conv":
                kernel, _ = r.kernel_stride
                self.conv2 = BasicConv2d(depth, r.ch3x3red, 1, v)  # Table 1: "#3×3 reduce"
                self.conv3 = BasicConv2d(r.ch3x3red, r.ch3x3, kernel, v, padding=kernel // 2)
            elif r.kind == "maxpool":
                kernel, stride = r.kernel_stride
                if r.key == "maxpool4":
                    kernel = v.maxpool4_kernel
                padding = v.pool_padding if kernel == 3 else 0
                setattr(self, r.key, nn.MaxPool2d(kernel, stride, padding=padding,
                                                  ceil_mode=v.pool_ceil_mode))
            elif r.kind == "inception":
                setattr(self, r.key, Inception.from_row(r, depth, v))
                if r.key in arch.AUX_ON.values():
                    aux_in[r.key] = arch.inception_out_channels(r)
            elif r.kind == "avgpool":
                # the heads are registered here so that state_dict order matches torchvision's
                self.aux1, self.aux2 = (
                    (InceptionAux(aux_in[arch.AUX_ON[a]], num_classes, v) for a in ("aux1", "aux2"))
                    if aux_logits else (None, None))
                # Table 1's 7x7/1 average pool, written adaptively: identical on the 7x7 map of a
                # 224x224 input, and still a global average for other input sizes.
                self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            elif r.kind == "dropout":
                self.dropout = nn.Dropout(v.dropout if dropout is None else dropout)
            elif r.kind == "linear":
                self.fc = nn.Linear(depth, num_classes)
            depth = self._row_out_channels(r, depth)
        # Figure 3: LocalRespNorm after the first max pool and after the 3x3 conv (conv3). The paper
        # gives no values; size 5, alpha 1e-4 (divided by size), beta 0.75, k 1 are BVLC's (AlexNet's
        # paper used k 2). utils.lrn computes PyTorch's LocalResponseNorm with a faster backward.
        self.lrn1 = LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0) if v.lrn else None
        self.lrn2 = LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0) if v.lrn else None
        init_weights(self)

    @staticmethod
    def _row_out_channels(r: arch.Row, depth: int) -> int:
        if r.kind == "inception":
            return arch.inception_out_channels(r)
        if r.kind == "conv":
            return r.ch3x3 if r.ch3x3 is not None else r.out_channels
        if r.kind == "linear":
            return r.out_channels
        return depth  # pools, dropout and softmax keep the depth

    def _transform_input(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return x * (std / 0.5) + (mean - 0.5) / 0.5

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None,
                                                         torch.Tensor | None]:
        """Stem and the nine Inception modules: (N, 3, H, W) -> (N, 1024, H/32, W/32).

        Also returns the auxiliary logits (``None`` outside training or without aux heads).
        """
        check_input(x, self.variant)
        if self.transform_input:
            x = self._transform_input(x)
        x = self.maxpool1(self.conv1(x))
        if self.lrn1 is not None:
            x = self.lrn1(x)
        x = self.conv3(self.conv2(x))
        if self.lrn2 is not None:
            x = self.lrn2(x)
        x = self.maxpool2(x)
        x = self.inception3b(self.inception3a(x))
        x = self.maxpool3(x)
        x = self.inception4a(x)
        use_aux = self.training and self.aux1 is not None
        aux1 = self.aux1(x) if use_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if use_aux else None
        x = self.inception4e(x)
        x = self.maxpool4(x)
        x = self.inception5b(self.inception5a(x))
        return x, aux1, aux2

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Average pool, dropout and the linear classifier: (N, 1024, h, w) -> (N, num_classes)."""
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        x, aux1, aux2 = self.forward_features(x)
        logits = self.forward_head(x)
        if aux1 is not None:
            return GoogLeNetOutputs(logits, aux2, aux1)
        return logits

    @property
    def feature_info(self) -> list[dict]:
        """The feature maps a user can tap: module name, channels and stride w.r.t. the input."""
        info, stride = [], 1
        for r in arch.TABLE1:
            if r.kind in ("conv", "maxpool"):
                stride *= r.kernel_stride[1]
            if r.kind in ("conv", "inception"):
                name = "conv3" if r.key == "conv2" else r.key
                info.append({"module": name, "num_chs": self._row_out_channels(r, 0),
                             "reduction": stride})
        return info


def init_weights(model: nn.Module) -> None:
    """Initialise a freshly built network.

    The paper does not give its initialisation (§6 is silent). Convolutions get He (Kaiming)
    normal weights, right for ReLU networks without batch norm, and zero bias; linear layers
    N(0, 0.01). Batch norm starts as the identity.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _pool_out(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> int:
    """PyTorch's (and Caffe's) pooling output size; 0 where the layer would have no output."""
    span = size + 2 * padding - kernel + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1  # floor division, as PyTorch rounds towards minus infinity
    # the last window must start inside the input (or the left padding), as in PyTorch and Caffe
    if ceil_mode and out > 0 and (out - 1) * stride >= size + padding:
        out -= 1
    return max(out, 0)


def spatial_sizes(size: int, variant: str | Variant = "paper") -> dict[str, int]:
    """Side length of the feature map after each downsampling layer, for a square ``size`` input.

    Pure arithmetic on the Table 1 strides, with the variant's padding and rounding. A value of 0
    means the layer gets no output at that input size.
    """
    v = get_variant(variant)
    out = {}
    for r in arch.TABLE1:
        if r.kind == "conv" and r.key == "conv1":
            k, s = r.kernel_stride
            size = (size + 2 * (k // 2) - k) // s + 1 if size + 2 * (k // 2) >= k else 0
        elif r.kind == "maxpool":
            k, s = r.kernel_stride
            if r.key == "maxpool4":
                k = v.maxpool4_kernel
            size = _pool_out(size, k, s, v.pool_padding if k == 3 else 0, v.pool_ceil_mode)
        out[r.key] = size
        if size <= 0:
            break
    return out


def total_stride() -> int:
    """Product of the Table 1 strides: one position of inception (5b) per 32x32 input patch."""
    return math.prod(r.kernel_stride[1] for r in arch.TABLE1 if r.kind in ("conv", "maxpool"))


def min_input_size(variant: str | Variant = "paper") -> int:
    """The smallest height and width the variant accepts.

    At least the total stride (32), so that the last stage sees a real image patch rather than
    padding, and large enough that every layer still produces a map of at least 1x1.
    """
    v = get_variant(variant)
    size = total_stride()
    while min(spatial_sizes(size, v).values()) < 1:
        size += 1
    return size


def check_input(x: torch.Tensor, variant: str | Variant = "paper") -> None:
    """Raise ``ValueError`` unless ``x`` is an N x 3 x H x W tensor large enough for the network."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor of shape N x 3 x H x W, got {type(x).__name__}")
    if x.dim() != 4:
        hint = " (add a batch dimension with x.unsqueeze(0))" if x.dim() == 3 else ""
        raise ValueError(f"expected a 4-D tensor N x 3 x H x W, got shape {tuple(x.shape)}{hint}")
    if x.shape[1] != arch.IN_CHANNELS:
        raise ValueError(f"expected 3 colour channels (RGB), got {x.shape[1]} in shape {tuple(x.shape)}; "
                         "repeat a grayscale channel with x.expand(-1, 3, -1, -1) or drop alpha with x[:, :3]")
    smallest = min_input_size(variant)
    h, w = x.shape[-2:]
    if h < smallest or w < smallest:
        raise ValueError(f"input is {h}x{w}; GoogLeNet ({get_variant(variant).name}) needs at least "
                         f"{smallest}x{smallest} (the paper uses {arch.INPUT_SIZE}x{arch.INPUT_SIZE}); "
                         "resize the image first")


def googlenet(variant: str = "paper", num_classes: int = 1000, aux_logits: bool = True,
              **kwargs) -> GoogLeNet:
    """Build GoogLeNet.

    Args:
        variant: ``"paper"`` (§5, Figure 3) or ``"torchvision"`` (torchvision's port of TF-slim).
        num_classes: outputs of the main and auxiliary classifiers (1000 in the paper).
        aux_logits: build the two auxiliary classifiers (§5); they only run in training mode.
        **kwargs: ``transform_input`` and ``dropout`` override the variant's defaults.
    """
    return GoogLeNet(variant, num_classes=num_classes, aux_logits=aux_logits, **kwargs)
