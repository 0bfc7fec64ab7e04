"""Table 1 of the paper as data: the GoogLeNet incarnation of the Inception architecture (§5).

Every row of Table 1 is transcribed here once, with its channel columns and its printed ``params``
and ``ops`` strings verbatim ("2.7K", "34M"). The model builder (:mod:`utils.model`), the profiler
(:mod:`utils.profiling`), the notes and the tests all read this table; input channels are never
typed, they are derived from the previous row's output depth.

This module imports no torch, so the table can be read anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


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
AUX_LOSS_WEIGHT = 0.3  # §5: "their loss gets added to the total loss ... with a discount weight 0.3"

# The names a reader will look for when tapping feature maps.
INCEPTION_KEYS: tuple[str, ...] = tuple(r.key for r in TABLE1 if r.kind == "inception")
BRANCHES: tuple[str, ...] = ("branch1", "branch2", "branch3", "branch4")
BRANCH_LABELS = {"branch1": "1x1", "branch2": "3x3", "branch3": "5x5", "branch4": "pool proj"}


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
