"""GoogLeNet (§5, Table 1, Figure 3) built from the layer specs :mod:`utils.network.arch` resolves from Table 1.

One code path builds two networks:

* ``variant="paper"``: the network the paper describes. ReLU convolutions with bias, local response
  normalisation after the first max pool and after the 3x3 convolution (Figure 3), true 5x5 kernels
  in the 5x5 branch, 3x3/2 max pools, a 7x7 average pool, dropout 40%, and the two auxiliary
  classifiers of §5 on inception (4a) and (4d).
* ``variant="torchvision"``: torchvision's ``googlenet``, whose weights were ported from TF-slim's
  Inception v1. Its state_dict keys are identical to ``torchvision.models.googlenet``, so its
  weights load with ``strict=True`` and give the same logits.

Every difference between the two is a field of :class:`utils.network.arch.Variant`,
with its source in a comment; the builder reads only :func:`utils.network.arch.layer_specs`.
"""

from __future__ import annotations

from collections import namedtuple

import torch
import torch.nn.functional as F
from torch import nn

from . import arch
from .arch import IMAGENET_MEAN, IMAGENET_STD, PAPER, Variant, get_variant
from .lrn import LocalResponseNorm

# torchvision's field names and order, so that code written for torchvision.models.googlenet
# (``out.logits``, ``out.aux_logits2``, ``out.aux_logits1``, or unpacking) works unchanged.
GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])
GoogLeNetOutputs.__doc__ = """Training-mode output: the main classifier and the two auxiliary ones.

``aux_logits1`` comes from the head on inception (4a), ``aux_logits2`` from the head on (4d) (§5).
"""


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

    @classmethod
    def from_spec(cls, spec: arch.LayerSpec, variant: Variant) -> BasicConv2d:
        return cls(spec.in_channels, spec.out_channels, spec.kernel, variant, stride=spec.stride,
                   padding=spec.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x, inplace=True)


def layer_module(spec: arch.LayerSpec, variant: Variant) -> nn.Module:
    """The module that implements one :class:`utils.network.arch.LayerSpec` (a conv, max pool or LRN)."""
    if spec.kind == "conv":
        return BasicConv2d.from_spec(spec, variant)
    if spec.kind == "maxpool":
        return nn.MaxPool2d(spec.kernel, spec.stride, padding=spec.padding, ceil_mode=spec.ceil_mode)
    if spec.kind == "lrn":
        return LocalResponseNorm(arch.LRN_SIZE, alpha=arch.LRN_ALPHA, beta=arch.LRN_BETA, k=arch.LRN_K)
    raise ValueError(f"no single module for a {spec.kind!r} layer ({spec.name})")


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
        layers = arch.inception_layers(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                                       variant)
        for b in arch.BRANCHES:
            mods = [layer_module(spec, variant) for spec in layers if spec.branch == b]
            setattr(self, b, mods[0] if len(mods) == 1 else nn.Sequential(*mods))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


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
        self.variant = variant
        specs = {spec.name.split(".")[-1]: spec for spec in arch.aux_layers(in_channels, num_classes, variant)}
        # §5's window, or kernel 0 where the variant always pools adaptively; resolved once, here
        self.pool_spec = specs["pool"]
        self.conv = BasicConv2d.from_spec(specs["conv"], variant)
        self.fc1 = nn.Linear(specs["fc1"].in_channels, specs["fc1"].out_channels)
        self.fc2 = nn.Linear(specs["fc2"].in_channels, specs["fc2"].out_channels)
        self.dropout = nn.Dropout(arch.AUX_DROPOUT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # §5's fixed window where it gives the spec's 4x4 on this map, else the adaptive pool to 4x4
        p = self.pool_spec
        if p.kernel and all(arch.pool_out(int(s), p.kernel, p.stride, p.padding, p.ceil_mode) == p.out_size
                            for s in x.shape[-2:]):
            x = F.avg_pool2d(x, p.kernel, p.stride)
        else:
            x = F.adaptive_avg_pool2d(x, arch.AUX_POOLED_HW)
        x = self.conv(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x), inplace=True)
        return self.fc2(self.dropout(x))


class GoogLeNet(nn.Module):
    """GoogLeNet (§5, Table 1, Figure 3), built layer by layer from :func:`utils.network.arch.layer_specs`.

    In training mode with ``aux_logits=True`` the forward pass returns :class:`GoogLeNetOutputs`;
    otherwise it returns the main logits only (§5: the auxiliary networks are discarded at
    inference).

    Shape:
        (N, 3, H, W) with H, W >= :func:`utils.network.arch.min_input_size` -> (N, num_classes)
    """

    def __init__(self, variant: str | Variant = "paper", num_classes: int = 1000,
                 aux_logits: bool = True, transform_input: bool | None = None,
                 dropout: float | None = None):
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        v = get_variant(variant)
        self.variant = v
        self.num_classes = num_classes
        self.aux_logits = aux_logits
        self.transform_input = v.transform_input if transform_input is None else transform_input
        specs = arch.layer_specs(v, arch.INPUT_SIZE, aux_logits=aux_logits, num_classes=num_classes)
        # forward_features walks these module names in the spec's order (stem, LRNs, pools, Inception
        # modules, and each auxiliary head right after the module it sits on) up to the global pool
        self.stage_names, self.aux_names = feature_stages(specs)
        branches: list[arch.LayerSpec] = []
        heads: dict[str, list[arch.LayerSpec]] = {}
        for spec in specs:
            if spec.branch is not None:
                branches.append(spec)
            elif spec.kind == "concat":
                self.add_module(spec.name, Inception(*_inception_args(branches), variant=v))
                branches = []
            elif spec.row.startswith("aux"):
                heads.setdefault(spec.row, []).append(spec)
            elif spec.kind in ("conv", "maxpool", "lrn"):
                self.add_module(spec.name, layer_module(spec, v))
            elif spec.kind == "avgpool":
                # the heads are registered here so that state_dict order matches torchvision's
                self.aux1, self.aux2 = (
                    (InceptionAux(heads[a][0].in_channels, num_classes, v) for a in ("aux1", "aux2"))
                    if aux_logits else (None, None))
                self.avgpool = nn.AdaptiveAvgPool2d((1, 1))  # spec kernel 0: adaptive, a global average
            elif spec.kind == "dropout":
                self.dropout = nn.Dropout(v.dropout if dropout is None else dropout)
            elif spec.kind == "linear":
                self.fc = nn.Linear(spec.in_channels, spec.out_channels)
        if not v.lrn:
            self.lrn1 = self.lrn2 = None
        init_weights(self)

    def _transform_input(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return x * (std / 0.5) + (mean - 0.5) / 0.5

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None,
                                                         torch.Tensor | None]:
        """Stem and the nine Inception modules: (N, 3, H, W) -> (N, 1024, H/32, W/32).

        The modules run in the order of :attr:`stage_names`, read from the spec. Also returns the
        auxiliary logits of ``aux1`` and ``aux2`` (``None`` outside training or without aux heads).
        """
        check_input(x, self.variant, self.conv1.conv.weight.dtype)
        if self.transform_input:
            x = self._transform_input(x)
        use_aux = self.training and all(getattr(self, a) is not None for a in self.aux_names)
        aux: dict[str, torch.Tensor] = {}
        for name in self.stage_names:
            module = getattr(self, name)
            if name in self.aux_names:  # a head reads the map; the main path goes on from the same map
                if use_aux:
                    aux[name] = module(x)
            elif module is not None:  # a layer switched off after construction (None) is skipped
                x = module(x)
        return x, aux.get("aux1"), aux.get("aux2")

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
        return feature_info(self.variant)


def feature_stages(specs: tuple[arch.LayerSpec, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The module names :meth:`GoogLeNet.forward_features` calls, in order, and which of them are heads.

    Read from :func:`utils.network.arch.layer_specs`: every layer on the main path before the global
    average pool (an Inception module by its ``concat``), and each auxiliary head where its specs
    follow the module it sits on. Returns ``(stage_names, aux_names)``.
    """
    stages: list[str] = []
    heads: list[str] = []
    for spec in specs:
        if spec.kind == "avgpool" and spec.on_main_path:  # the head of the network starts here
            break
        if spec.row.startswith("aux"):
            if spec.row not in heads:
                heads.append(spec.row)
                stages.append(spec.row)
        elif spec.on_main_path:
            stages.append(spec.name)
    return tuple(stages), tuple(heads)


def feature_info(variant: str | Variant = "paper") -> list[dict]:
    """The output of each conv and Inception row of Table 1 (timm's ``feature_info``): the module,
    its channels (``num_chs``) and its stride w.r.t. the input (``reduction``), read from the spec."""
    info, stride = [], 1
    for spec in arch.layer_specs(variant):
        if not spec.on_main_path:
            continue
        stride *= spec.stride if spec.kernel else 1
        if spec.kind in ("conv", "concat") and spec.name != "conv2":  # conv2 is the 1x1 reduction
            info.append({"module": spec.name, "num_chs": spec.out_channels, "reduction": stride})
    return info


def _inception_args(branches: list[arch.LayerSpec]) -> tuple[int, ...]:
    """Inception's constructor arguments (in_channels, ch1x1, ... pool_proj) from its branch specs."""
    by_name = {spec.name.split(".", 1)[1]: spec for spec in branches}
    return (by_name["branch1"].in_channels, by_name["branch1"].out_channels,
            by_name["branch2.0"].out_channels, by_name["branch2.1"].out_channels,
            by_name["branch3.0"].out_channels, by_name["branch3.1"].out_channels,
            by_name["branch4.1"].out_channels)


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


def check_input(x: torch.Tensor, variant: str | Variant = "paper", dtype: torch.dtype | None = None) -> None:
    """Raise ``ValueError`` unless ``x`` is an N x 3 x H x W floating-point tensor (of ``dtype``, the
    weights' type, if given) large enough for the network."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor of shape N x 3 x H x W, got {type(x).__name__}")
    if not x.is_floating_point():  # an integer image would pass through the layers as nonsense
        raise ValueError(f"expected a floating-point tensor, got {x.dtype}; convert uint8 images with "
                         "x.float() / 255 and normalise them as the model was trained")
    if dtype is not None and x.dtype != dtype:
        raise ValueError(f"input is {x.dtype} but the weights are {dtype}; convert with x.to({dtype})")
    if x.dim() != 4:
        hint = " (add a batch dimension with x.unsqueeze(0))" if x.dim() == 3 else ""
        raise ValueError(f"expected a 4-D tensor N x 3 x H x W, got shape {tuple(x.shape)}{hint}")
    if x.shape[1] != arch.IN_CHANNELS:
        raise ValueError(f"expected 3 colour channels (RGB), got {x.shape[1]} in shape {tuple(x.shape)}; "
                         "repeat a grayscale channel with x.expand(-1, 3, -1, -1) or drop alpha with x[:, :3]")
    arch.check_input_size(int(x.shape[-2]), int(x.shape[-1]), variant)


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
