"""Table 1 of the paper as data: the GoogLeNet incarnation of the Inception architecture (§5).

Every row of Table 1 is transcribed here once, with its channel columns and its printed ``params``
and ``ops`` strings verbatim ("2.7K", "34M"). The model builder (:mod:`utils.network.model`), the profiler
(:mod:`utils.measuring.profiling`), the notes and the tests all read this table; input channels are never
typed, they are derived from the previous row's output depth.

The table is resolved once, per variant and input size, by :func:`layer_specs` into one typed
:class:`LayerSpec` per layer (kernel, stride, padding, rounding, channels, map sizes). The model
builder, the analytic cost model, receptive fields, ``feature_info`` and the input-size checks all
read those specs, so a change of pooling (say) is one edit here.

This module imports no torch, so the table can be read anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Row:
    """One row of Table 1, as printed.

    Attributes:
        layer: the row's ``type`` column as printed, e.g. ``"inception (3a)"``.
        key: the attribute name of the module that implements the row (torchvision's names).
        patch: the ``patch size/stride`` column as printed, e.g. ``"7×7/2"``, or ``""``.
        output_size: the ``output size`` column as printed, e.g. ``"112×112×64"``.
        depth: the ``depth`` column: layers with parameters in this row.
        ch1x1 .. pool_proj: the channel columns (``#1×1``, ``#3×3 reduce``, ... ``pool proj``);
            ``None`` where the paper leaves the cell blank.
        paper_params, paper_ops: the ``params`` and ``ops`` columns verbatim ("2.7K", "34M"), or "".
    """

    layer: str
    key: str
    patch: str
    output_size: str
    depth: int
    ch1x1: int | None = None
    ch3x3red: int | None = None
    ch3x3: int | None = None
    ch5x5red: int | None = None
    ch5x5: int | None = None
    pool_proj: int | None = None
    paper_params: str = ""
    paper_ops: str = ""

    @property
    def kind(self) -> str:
        """``"conv"``, ``"maxpool"``, ``"avgpool"``, ``"inception"``, ``"dropout"``, ``"linear"``
        or ``"softmax"``."""
        first = self.layer.split()[0]
        return {"convolution": "conv", "max": "maxpool", "avg": "avgpool"}.get(first, first)

    @property
    def out_hw(self) -> tuple[int, int]:
        """Spatial output size printed in the table, e.g. ``(112, 112)``."""
        h, w, _ = _parse_size(self.output_size)
        return h, w

    @property
    def out_channels(self) -> int:
        """Output depth printed in the table (the last number of ``output size``)."""
        return _parse_size(self.output_size)[2]

    @property
    def kernel_stride(self) -> tuple[int, int] | None:
        """``(kernel, stride)`` parsed from ``patch``, e.g. ``(7, 2)``; ``None`` when blank."""
        if not self.patch:
            return None
        m = re.fullmatch(r"(\d+)×(\d+)/(\d+)", self.patch)
        if m is None or m.group(1) != m.group(2):
            raise ValueError(f"unexpected patch size/stride {self.patch!r} in row {self.layer!r}")
        return int(m.group(1)), int(m.group(3))

    @property
    def branch_channels(self) -> tuple[int, int, int, int]:
        """Output depth of the four branches of an Inception row: 1x1, 3x3, 5x5, pool proj."""
        if self.kind != "inception":
            raise ValueError(f"row {self.layer!r} is not an Inception module")
        return self.ch1x1, self.ch3x3, self.ch5x5, self.pool_proj  # type: ignore[return-value]


def _parse_size(text: str) -> tuple[int, int, int]:
    parts = text.split("×")
    if len(parts) != 3:
        raise ValueError(f"unexpected output size {text!r}; expected H×W×C")
    h, w, c = (int(p) for p in parts)
    return h, w, c


_UNITS = {"": 1, "K": 1_000, "M": 1_000_000, "G": 1_000_000_000}


def parse_count(text: str) -> int | None:
    """Parse a count printed in Table 1: ``"2.7K"`` -> 2700, ``"1072K"`` -> 1072000, ``""`` -> None.

    The paper uses K = 1000 and M = 10^6 (see the Table 1 note).
    """
    text = text.strip()
    if not text:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]?)", text)
    if m is None:
        raise ValueError(f"cannot parse count {text!r}; expected a number with an optional K/M/G suffix")
    return round(float(m.group(1)) * _UNITS[m.group(2)])


def printed_precision(text: str) -> int:
    """Half a unit in the last printed digit of a Table 1 count: the rounding the paper allows.

    ``"2.7K"`` -> 50, ``"34M"`` -> 500_000, ``"1072K"`` -> 500.
    """
    m = re.fullmatch(r"\d+(?:\.(\d+))?([KMG]?)", text.strip())
    if m is None:
        raise ValueError(f"cannot parse count {text!r}")
    decimals = len(m.group(1) or "")
    return _UNITS[m.group(2)] // (2 * 10**decimals)


# Table 1 (§5), transcribed verbatim. Keys follow torchvision so that its weights load by name.
# The second "convolution" row is two layers (depth 2): a 1x1 reduction to 64 ("#3×3 reduce")
# then the 3x3 convolution to 192; torchvision calls them conv2 and conv3.
TABLE1: tuple[Row, ...] = (
    Row("convolution", "conv1", "7×7/2", "112×112×64", 1, paper_params="2.7K", paper_ops="34M"),
    Row("max pool", "maxpool1", "3×3/2", "56×56×64", 0),
    Row("convolution", "conv2", "3×3/1", "56×56×192", 2, ch3x3red=64, ch3x3=192,
        paper_params="112K", paper_ops="360M"),
    Row("max pool", "maxpool2", "3×3/2", "28×28×192", 0),
    Row("inception (3a)", "inception3a", "", "28×28×256", 2, 64, 96, 128, 16, 32, 32, "159K", "128M"),
    Row("inception (3b)", "inception3b", "", "28×28×480", 2, 128, 128, 192, 32, 96, 64, "380K", "304M"),
    Row("max pool", "maxpool3", "3×3/2", "14×14×480", 0),
    Row("inception (4a)", "inception4a", "", "14×14×512", 2, 192, 96, 208, 16, 48, 64, "364K", "73M"),
    Row("inception (4b)", "inception4b", "", "14×14×512", 2, 160, 112, 224, 24, 64, 64, "437K", "88M"),
    Row("inception (4c)", "inception4c", "", "14×14×512", 2, 128, 128, 256, 24, 64, 64, "463K", "100M"),
    Row("inception (4d)", "inception4d", "", "14×14×528", 2, 112, 144, 288, 32, 64, 64, "580K", "119M"),
    Row("inception (4e)", "inception4e", "", "14×14×832", 2, 256, 160, 320, 32, 128, 128, "840K", "170M"),
    Row("max pool", "maxpool4", "3×3/2", "7×7×832", 0),
    Row("inception (5a)", "inception5a", "", "7×7×832", 2, 256, 160, 320, 32, 128, 128, "1072K", "54M"),
    Row("inception (5b)", "inception5b", "", "7×7×1024", 2, 384, 192, 384, 48, 128, 128, "1388K", "71M"),
    Row("avg pool", "avgpool", "7×7/1", "1×1×1024", 0),
    Row("dropout (40%)", "dropout", "", "1×1×1024", 0),
    Row("linear", "fc", "", "1×1×1000", 1, paper_params="1000K", paper_ops="1M"),
    Row("softmax", "softmax", "", "1×1×1000", 0),
)

# §5: the network takes a 224x224 RGB image; the two auxiliary classifiers sit on 4a and 4d.
INPUT_SIZE = 224
IN_CHANNELS = 3
AUX_ON = {"aux1": "inception4a", "aux2": "inception4d"}
# §5, auxiliary classifier: 5x5/3 average pool, 1x1 conv with 128 filters, FC 1024, dropout 70%.
AUX_POOL = (5, 3)
AUX_CONV_CHANNELS = 128
AUX_FC_FEATURES = 1024
AUX_POOLED_HW = (4, 4)  # §5: "4×4×512 output for the (4a), and 4×4×528 for the (4d) stage"
AUX_DROPOUT = 0.7
DROPOUT = 0.4  # Table 1: "dropout (40%)"

# The names a reader will look for when tapping feature maps.
INCEPTION_KEYS: tuple[str, ...] = tuple(r.key for r in TABLE1 if r.kind == "inception")
BRANCHES: tuple[str, ...] = ("branch1", "branch2", "branch3", "branch4")
BRANCH_LABELS = {"branch1": "1x1", "branch2": "3x3", "branch3": "5x5", "branch4": "pool proj"}

# torchvision's ImageNet statistics (torchvision.transforms docs), the normalisation its weights
# expect; transform_input maps them onto TF-slim's (x - 0.5) / 0.5.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Figure 3's LocalRespNorm. The paper gives no values; these are BVLC's Caffe GoogLeNet
# (local_size 5, alpha 1e-4 divided by the window size, beta 0.75, k 1). AlexNet's paper used k 2.
LRN_SIZE = 5
LRN_ALPHA = 1e-4
LRN_BETA = 0.75
LRN_K = 1.0


def row(key: str) -> Row:
    """The Table 1 row whose module key is ``key`` (e.g. ``"inception3a"``)."""
    for r in TABLE1:
        if r.key == key:
            return r
    raise KeyError(f"no Table 1 row with key {key!r}; valid keys: {', '.join(r.key for r in TABLE1)}")


def in_channels(key: str) -> int:
    """Input depth of the row ``key``: the output depth of the row before it (3 for the first)."""
    keys = [r.key for r in TABLE1]
    i = keys.index(row(key).key)
    return IN_CHANNELS if i == 0 else TABLE1[i - 1].out_channels


def inception_out_channels(r: Row) -> int:
    """Sum of the four branch depths: what concatenation produces (§4)."""
    return sum(r.branch_channels)


# --- the two variants ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    """What differs between the paper's network and torchvision's port of it."""

    name: str
    batch_norm: bool  # BN after every conv, conv without bias; the paper has neither (§5 predates BN)
    lrn: bool  # Figure 3's two LocalRespNorm layers
    branch3_kernel: int  # kernel of the "5x5" branch
    pool_ceil_mode: bool  # rounding of the stride-2 max pools' output size
    maxpool4_kernel: int  # the pool between 4e and 5a
    dropout: float  # before the final linear layer
    aux_fixed_pool: bool  # §5's 5x5/3 average pool where it gives 4x4 (else always adaptive to 4x4)
    transform_input: bool  # re-normalise ImageNet-normalised input to the [-1, 1] range of TF-slim


PAPER = Variant(
    name="paper",
    batch_norm=False,  # §5: "All the convolutions ... use rectified linear activation"; no BN
    lrn=True,  # Figure 3: LocalRespNorm after the first max pool and after the 3x3 conv
    branch3_kernel=5,  # Table 1: "#5×5"
    # BVLC's Caffe replication (models/bvlc_googlenet): 3x3/2 pools with pad 0 and Caffe's ceil
    # rounding, so 112 -> 56 -> 28 -> 14 -> 7 as Table 1 prints, each window starting on the map.
    pool_ceil_mode=True,
    maxpool4_kernel=3,  # Table 1: max pool 3×3/2 before 5a
    dropout=DROPOUT,  # Table 1: dropout (40%)
    aux_fixed_pool=True,  # §5: "average pooling layer with 5×5 filter size and stride 3"
    transform_input=False,
)

TORCHVISION = Variant(
    name="torchvision",
    batch_norm=True,  # torchvision googlenet.py BasicConv2d: BN(eps=0.001), conv bias=False (TF-slim port)
    lrn=False,  # torchvision googlenet.py: no LRN layers
    branch3_kernel=3,  # torchvision googlenet.py: 3x3 in the "5x5" branch, a known bug (vision#906)
    pool_ceil_mode=True,  # torchvision googlenet.py: MaxPool2d(3, 2, ceil_mode=True)
    maxpool4_kernel=2,  # torchvision googlenet.py: maxpool4 = MaxPool2d(2, 2, ceil_mode=True)
    dropout=0.2,  # torchvision googlenet.py: GoogLeNet(dropout=0.2)
    aux_fixed_pool=False,  # torchvision googlenet.py: adaptive_avg_pool2d(x, (4, 4)) in InceptionAux
    transform_input=True,  # torchvision sets transform_input=True when loading IMAGENET1K_V1
)

VARIANTS = {v.name: v for v in (PAPER, TORCHVISION)}


def get_variant(variant: str | Variant) -> Variant:
    """The :class:`Variant` named ``variant`` (``"paper"`` or ``"torchvision"``), or ``variant`` itself."""
    if isinstance(variant, Variant):
        return variant
    try:
        return VARIANTS[variant]
    except (KeyError, TypeError):
        raise ValueError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS)}") from None


# --- Table 1 resolved into layers ------------------------------------------------------------------

@dataclass(frozen=True)
class LayerSpec:
    """One layer of GoogLeNet, resolved from Table 1 and a :class:`Variant` for one input size.

    Attributes:
        name: the module name in :class:`utils.network.model.GoogLeNet` (``"inception3a.branch3.1"``);
            for ``kind == "concat"`` the Inception module itself (its concatenated output).
        row: the Table 1 row key it belongs to (``"inception3a"``), or ``"aux1"``/``"aux2"``.
        kind: ``"conv"``, ``"maxpool"``, ``"avgpool"``, ``"lrn"``, ``"concat"``, ``"dropout"``,
            ``"linear"`` or ``"softmax"``.
        kernel, stride, padding: spatial window; ``kernel == 0`` marks an adaptive average pool
            whose output is ``out_size`` whatever its input (the global pool, the auxiliary pool).
        ceil_mode: pooling output size rounded up (Caffe's and torchvision's rule) instead of down.
        in_channels, out_channels: depth of the input and output maps (features for ``linear``).
        in_size, out_size: side of the square input and output maps; 0 when the input is too
            small for the layer to produce any output.
    """

    name: str
    row: str
    kind: str
    kernel: int
    stride: int
    padding: int
    ceil_mode: bool
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int

    @property
    def branch(self) -> str | None:
        """``"branch1"`` .. ``"branch4"`` for layers inside an Inception module, else ``None``."""
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 and parts[1] in BRANCHES else None

    @property
    def on_main_path(self) -> bool:
        """True for the layers the image passes through one after another: not a branch's layer
        (their module's ``concat`` stands for them), not an auxiliary head."""
        return "." not in self.name and not self.row.startswith("aux")


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output side of a convolution, PyTorch's and Caffe's rule: floor((size + 2p - k) / s) + 1."""
    span = size + 2 * padding - kernel
    return span // stride + 1 if size > 0 and span >= 0 else 0


def pool_out(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> int:
    """Output side of a max or average pool, PyTorch's rule (Caffe's for ``ceil_mode=True``).

    With ``ceil_mode`` the size is rounded up, but the last window must still start inside the
    input or its left padding (PyTorch drops it otherwise; Caffe clips the same way). 0 where the
    layer would have no output.
    """
    if size <= 0:
        return 0
    span = size + 2 * padding - kernel + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1  # floor division, as PyTorch rounds towards minus infinity
    if ceil_mode and out > 0 and (out - 1) * stride >= size + padding:
        out -= 1
    return max(out, 0)


def _check_size_arg(input_size) -> None:
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
        raise ValueError(f"input_size must be a positive int (side of a square image), got {input_size!r}")


def layer_specs(variant: str | Variant = "paper", input_size: int = INPUT_SIZE,
                aux_logits: bool = False, num_classes: int = 1000) -> tuple[LayerSpec, ...]:
    """Every layer of GoogLeNet in forward order, Table 1 (§5) resolved for ``variant``.

    Args:
        variant: ``"paper"`` or ``"torchvision"`` (or a :class:`Variant`).
        input_size: side of the square input image (224 in §5). Too small a size is not an error
            here: the layers that get no output have ``out_size == 0`` (see :func:`min_input_size`).
        aux_logits: include the two auxiliary classifiers of §5, right after the module they sit on.
        num_classes: outputs of the classifiers (1000 for ImageNet).

    Each Inception module appears as its seven branch layers followed by one ``concat`` layer for
    its output; Figure 3's LocalRespNorm layers appear in the paper variant only.
    """
    _check_size_arg(input_size)
    return _layer_specs(get_variant(variant), input_size, bool(aux_logits), int(num_classes))


@lru_cache(maxsize=256)
def _layer_specs(v: Variant, input_size: int, aux_logits: bool, num_classes: int) -> tuple[LayerSpec, ...]:
    specs: list[LayerSpec] = []
    depth, side = IN_CHANNELS, input_size

    def add(name, row, kind, out_channels, kernel=1, stride=1, padding=0, ceil_mode=False,
            in_channels=None, in_size=None) -> LayerSpec:
        c_in = depth if in_channels is None else in_channels
        s_in = side if in_size is None else in_size
        if kind == "conv":
            out = conv_out(s_in, kernel, stride, padding)
        elif kind in ("maxpool", "avgpool") and kernel > 0:
            out = pool_out(s_in, kernel, stride, padding, ceil_mode)
        elif kind == "avgpool":  # adaptive: the map is averaged down to a fixed size
            out = min(s_in, 1) if row == "avgpool" else (AUX_POOLED_HW[0] if s_in > 0 else 0)
        else:
            out = s_in
        spec = LayerSpec(name, row, kind, kernel, stride, padding, ceil_mode, c_in, out_channels, s_in, out)
        specs.append(spec)
        return spec

    def main(*args, **kwargs) -> None:
        nonlocal depth, side
        spec = add(*args, **kwargs)
        depth, side = spec.out_channels, spec.out_size

    for r in TABLE1:
        if r.key == "conv1":
            k, s = r.kernel_stride
            main("conv1", r.key, "conv", r.out_channels, k, s, k // 2)
        elif r.kind == "conv":  # Table 1's second conv row: a 1x1 reduction, then the 3x3 conv
            k, s = r.kernel_stride
            main("conv2", r.key, "conv", r.ch3x3red)  # "#3×3 reduce"
            main("conv3", r.key, "conv", r.ch3x3, k, s, k // 2)
            if v.lrn:  # Figure 3: LocalRespNorm after the 3x3 conv, before the second max pool
                main("lrn2", r.key, "lrn", depth)
        elif r.kind == "maxpool":
            k, s = r.kernel_stride
            if r.key == "maxpool4":
                k = v.maxpool4_kernel
            main(r.key, r.key, "maxpool", depth, k, s, 0, v.pool_ceil_mode)
            if r.key == "maxpool1" and v.lrn:  # Figure 3: LocalRespNorm after the first max pool
                main("lrn1", r.key, "lrn", depth)
        elif r.kind == "inception":
            n = r.key
            specs.extend(inception_layers(depth, r.ch1x1, r.ch3x3red, r.ch3x3, r.ch5x5red, r.ch5x5,
                                          r.pool_proj, v, name=n, size=side))
            depth = specs[-1].out_channels  # the concat's; the size is unchanged
            if aux_logits and n in AUX_ON.values():
                aux = next(a for a, on in AUX_ON.items() if on == n)
                specs.extend(aux_layers(depth, num_classes, v, name=aux, size=side))
        elif r.kind == "avgpool":
            # Table 1's 7x7/1 average pool, written adaptively: identical on the 7x7 map of a
            # 224x224 input, and still a global average at other input sizes
            main("avgpool", r.key, "avgpool", depth, 0, 0)
        elif r.kind == "dropout":
            main("dropout", r.key, "dropout", depth)
        elif r.kind == "linear":
            main("fc", r.key, "linear", num_classes)
        elif r.kind == "softmax":
            main("softmax", r.key, "softmax", depth)
    return tuple(specs)


def inception_layers(in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                     pool_proj: int, variant: str | Variant = "paper", name: str = "inception",
                     size: int = 0) -> list[LayerSpec]:
    """The layers of one Inception module with dimension reductions (§4, Figure 2(b)), then its output.

    Four branches read the same ``size`` x ``size`` input and keep its size: ``branch1`` 1x1;
    ``branch2`` 1x1 reduction then 3x3; ``branch3`` 1x1 reduction then 5x5 (the variant's
    ``branch3_kernel``); ``branch4`` 3x3/1 max pool then 1x1 projection. The last spec, ``concat``,
    is the module's output. ``size`` 0 leaves the map sizes unknown (only the shapes of the
    weights are needed).
    """
    v = get_variant(variant)
    k5, n, c = v.branch3_kernel, name, in_channels

    def layer(suffix, kind, c_in, c_out, kernel=1, padding=0, ceil_mode=False) -> LayerSpec:
        return LayerSpec(f"{n}.{suffix}", n, kind, kernel, 1, padding, ceil_mode, c_in, c_out, size, size)

    return [
        layer("branch1", "conv", c, ch1x1),
        layer("branch2.0", "conv", c, ch3x3red),
        layer("branch2.1", "conv", ch3x3red, ch3x3, 3, 1),
        layer("branch3.0", "conv", c, ch5x5red),
        layer("branch3.1", "conv", ch5x5red, ch5x5, k5, k5 // 2),
        # the same-size pool of Figure 2; torchvision adds ceil mode, which changes nothing at stride 1
        layer("branch4.0", "maxpool", c, c, 3, 1, v.pool_ceil_mode),
        layer("branch4.1", "conv", c, pool_proj),
        LayerSpec(n, n, "concat", 1, 1, 0, False, c, ch1x1 + ch3x3 + ch5x5 + pool_proj, size, size),
    ]


def aux_layers(in_channels: int, num_classes: int, variant: str | Variant = "paper", name: str = "aux1",
               size: int = 14) -> list[LayerSpec]:
    """§5's auxiliary classifier: 5x5/3 average pool to 4x4, 1x1 conv 128, FC 1024, dropout, linear.

    The paper's 5x5/3 pool gives 4x4 only on a 14x14 map; elsewhere (and always in torchvision's
    variant) an adaptive pool to 4x4 takes its place, so that ``fc1`` keeps its 2048 inputs. The
    two differ even at 14x14: the adaptive windows are 4 wide and start at 0, 3, 7, 10.
    """
    v, aux, c_in, side = get_variant(variant), name, in_channels, size
    k, s = AUX_POOL
    pooled = AUX_POOLED_HW[0]
    fixed = v.aux_fixed_pool and pool_out(side, k, s, 0, False) == pooled
    conv = AUX_CONV_CHANNELS
    out = pooled if side > 0 else 0
    one = 1 if side > 0 else 0
    return [
        LayerSpec(f"{aux}.pool", aux, "avgpool", k if fixed else 0, s if fixed else 0, 0, False,
                  c_in, c_in, side, out),
        LayerSpec(f"{aux}.conv", aux, "conv", 1, 1, 0, False, c_in, conv, out, out),
        LayerSpec(f"{aux}.fc1", aux, "linear", 1, 1, 0, False, conv * pooled * pooled, AUX_FC_FEATURES, one, one),
        LayerSpec(f"{aux}.dropout", aux, "dropout", 1, 1, 0, False, AUX_FC_FEATURES, AUX_FC_FEATURES, one, one),
        LayerSpec(f"{aux}.fc2", aux, "linear", 1, 1, 0, False, AUX_FC_FEATURES, num_classes, one, one),
    ]


def spatial_sizes(input_size: int, variant: str | Variant = "paper") -> dict[str, int]:
    """Side of the output map of each Table 1 row, for a square ``input_size`` input.

    Read from :func:`layer_specs`. The dict stops at the first row with no output (value 0).
    """
    out: dict[str, int] = {}
    for spec in layer_specs(variant, input_size):
        if spec.on_main_path:
            out[spec.row] = spec.out_size
            if spec.out_size <= 0:
                break
    return out


def total_stride(variant: str | Variant = "paper") -> int:
    """Product of the strides on the main path: 32, one position of (5b) per 32x32 input patch."""
    stride = 1
    for spec in layer_specs(variant):
        if spec.on_main_path and spec.kind in ("conv", "maxpool"):
            stride *= spec.stride
    return stride


@lru_cache(maxsize=16)
def _min_input_size(v: Variant) -> int:
    size = total_stride(v)
    while min(spatial_sizes(size, v).values()) < 1:
        size += 1
    return size


def min_input_size(variant: str | Variant = "paper") -> int:
    """The smallest height and width the variant accepts.

    At least the total stride (32), so that the last stage sees a real image patch rather than
    padding, and large enough that every layer still produces a map of at least 1x1.
    """
    return _min_input_size(get_variant(variant))


def check_input_size(height: int, width: int, variant: str | Variant = "paper") -> None:
    """Raise ``ValueError`` unless an ``height x width`` image is large enough for the network."""
    v = get_variant(variant)
    smallest = min_input_size(v)
    if height < smallest or width < smallest:
        raise ValueError(f"input is {height}x{width}; GoogLeNet ({v.name}) needs at least "
                         f"{smallest}x{smallest} (the paper uses {INPUT_SIZE}x{INPUT_SIZE}); "
                         "resize the image first")
