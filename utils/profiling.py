"""Parameters and multiply-adds of GoogLeNet, layer by layer, checked against Table 1 (§5).

The analytic counter (:func:`layer_costs`) reads the Table 1 data in :mod:`utils.arch` and a
:class:`utils.model.Variant`; it builds no network and traces nothing. A convolution with a k x k
kernel, ``c_in`` input and ``c_out`` output channels on an ``H x W`` output map costs

    macs = k * k * c_in * c_out * H * W        weights = k * k * c_in * c_out

Only convolutions and linear layers count as multiply-adds (MACs). Bias additions, ReLU, pooling,
local response normalisation and batch norm are not multiply-adds and are left out, which is also
what the paper's ``ops`` column does. One MAC is two FLOPs (a multiply and an add).

:func:`table1` sets the result beside the paper's printed ``params`` and ``ops`` and explains,
by arithmetic, every row where the two disagree. :func:`count` and :func:`compare_counters`
measure any ``nn.Module`` with fvcore and ``torch.utils.flop_counter`` for comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import asdict, dataclass

import pandas as pd

from . import arch
from .model import VARIANTS, Variant, get_variant, min_input_size, spatial_sizes

# torchvision's published figures (torchvision.models docs, IMAGENET1K_V1 weights): the network
# the paper compares itself with in §1 ("12 times fewer parameters than ... Krizhevsky et al").
ALEXNET_NUM_PARAMS = 61_100_840
# §1 and §5: "a computational budget of 1.5 billion multiply-adds at inference time".
PAPER_MACS_BUDGET = 1_500_000_000
PAPER_FEWER_PARAMS_THAN_ALEXNET = 12  # §1

# Table 1's counts use binary thousands for params (see table1's notes): 1K = 1024 weights.
BINARY_K = 1.024


@dataclass(frozen=True)
class LayerCost:
    """The cost of one layer of GoogLeNet.

    Attributes:
        name: module name in :class:`utils.model.GoogLeNet`, e.g. ``"inception3a.branch3.1"``.
        row: the Table 1 row key the layer belongs to (``"inception3a"``), or ``"aux1"``/``"aux2"``.
        kind: ``"conv"``, ``"linear"``, ``"maxpool"``, ``"avgpool"``, ``"lrn"``, ``"dropout"``,
            ``"softmax"``.
        out_shape: ``(C, H, W)`` of the layer's output (``(C, 1, 1)`` for linear layers).
        kernel: kernel side for convolutions and pools, 0 otherwise.
        num_params: trainable parameters: weights, plus bias (paper) or batch norm scale and shift
            (torchvision).
        num_weights: the convolution or linear weights only, what Table 1's ``params`` counts.
        macs: multiply-adds of the convolution or linear layer (0 for everything else).
    """

    name: str
    row: str
    kind: str
    out_shape: tuple[int, int, int]
    kernel: int
    num_params: int
    num_weights: int
    macs: int

    @property
    def branch(self) -> str | None:
        """``"branch1"`` .. ``"branch4"`` for layers inside an Inception module, else ``None``."""
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 and parts[1] in arch.BRANCHES else None


def _conv(name: str, row: str, c_in: int, c_out: int, k: int, hw: int, v: Variant) -> LayerCost:
    weights = k * k * c_in * c_out
    # the paper's conv has a bias per output channel; torchvision's has BN scale and shift instead
    extra = 2 * c_out if v.batch_norm else c_out
    return LayerCost(name, row, "conv", (c_out, hw, hw), k, weights + extra, weights, weights * hw * hw)


def _linear(name: str, row: str, c_in: int, c_out: int) -> LayerCost:
    weights = c_in * c_out
    return LayerCost(name, row, "linear", (c_out, 1, 1), 0, weights + c_out, weights, weights)


def _free(name: str, row: str, kind: str, c: int, hw: int, kernel: int = 0) -> LayerCost:
    return LayerCost(name, row, kind, (c, hw, hw), kernel, 0, 0, 0)


def _check_input_size(input_size: int, v: Variant) -> None:
    if isinstance(input_size, bool) or not isinstance(input_size, int):
        raise ValueError(f"input_size must be an int (side of a square image), got {input_size!r}")
    smallest = min_input_size(v)
    if input_size < smallest:
        raise ValueError(f"input_size {input_size} is too small; GoogLeNet ({v.name}) needs at least "
                         f"{smallest} (the paper uses {arch.INPUT_SIZE})")


def _aux_costs(aux: str, c_in: int, num_classes: int, v: Variant) -> list[LayerCost]:
    # §5: 5x5/3 average pool to 4x4 (adaptive elsewhere), 1x1 conv 128, FC 1024, dropout, linear
    side = arch.AUX_POOLED_HW[0]
    conv_out = arch.AUX_CONV_CHANNELS
    return [
        _free(f"{aux}.pool", aux, "avgpool", c_in, side, arch.AUX_POOL[0]),
        _conv(f"{aux}.conv", aux, c_in, conv_out, 1, side, v),
        _linear(f"{aux}.fc1", aux, conv_out * side * side, arch.AUX_FC_FEATURES),
        _free(f"{aux}.dropout", aux, "dropout", arch.AUX_FC_FEATURES, 1),
        _linear(f"{aux}.fc2", aux, arch.AUX_FC_FEATURES, num_classes),
    ]


def layer_costs(variant: str | Variant = "paper", input_size: int = arch.INPUT_SIZE,
                aux_logits: bool = False, num_classes: int = 1000) -> list[LayerCost]:
    """Every layer of GoogLeNet with its output shape, parameters and multiply-adds.

    Pure arithmetic on Table 1 (§5) and the variant; nothing is built or traced. Local response
    normalisation (Figure 3, paper variant only) appears as layers with no parameters and no MACs.

    Args:
        variant: ``"paper"`` or ``"torchvision"`` (or a :class:`utils.model.Variant`).
        input_size: side of the square input image (224 in §5).
        aux_logits: include the two auxiliary classifiers of §5 (training only).
        num_classes: outputs of the classifiers (1000 for ImageNet).

    Returns:
        The layers in forward order, auxiliary heads right after the module they sit on.
    """
    v = get_variant(variant)
    _check_input_size(input_size, v)
    sizes = spatial_sizes(input_size, v)
    costs: list[LayerCost] = []
    depth = arch.IN_CHANNELS
    for r in arch.TABLE1:
        hw = sizes.get(r.key, 1)
        if r.key == "conv1":
            k, _ = r.kernel_stride
            costs.append(_conv("conv1", r.key, depth, r.out_channels, k, hw, v))
            depth = r.out_channels
        elif r.kind == "conv":  # Table 1's second conv row: 1x1 reduction (conv2) then 3x3 (conv3)
            k, _ = r.kernel_stride
            costs.append(_conv("conv2", r.key, depth, r.ch3x3red, 1, hw, v))
            costs.append(_conv("conv3", r.key, r.ch3x3red, r.ch3x3, k, hw, v))
            depth = r.ch3x3
            if v.lrn:  # Figure 3: LocalRespNorm after the 3x3 conv, before the second max pool
                costs.append(_free("lrn2", r.key, "lrn", depth, hw))
        elif r.kind == "maxpool":
            k = v.maxpool4_kernel if r.key == "maxpool4" else r.kernel_stride[0]
            costs.append(_free(r.key, r.key, "maxpool", depth, hw, k))
            if r.key == "maxpool1" and v.lrn:  # Figure 3: LocalRespNorm after the first max pool
                costs.append(_free("lrn1", r.key, "lrn", depth, hw))
        elif r.kind == "inception":
            k5 = v.branch3_kernel
            n = r.key
            costs += [
                _conv(f"{n}.branch1", n, depth, r.ch1x1, 1, hw, v),
                _conv(f"{n}.branch2.0", n, depth, r.ch3x3red, 1, hw, v),
                _conv(f"{n}.branch2.1", n, r.ch3x3red, r.ch3x3, 3, hw, v),
                _conv(f"{n}.branch3.0", n, depth, r.ch5x5red, 1, hw, v),
                _conv(f"{n}.branch3.1", n, r.ch5x5red, r.ch5x5, k5, hw, v),
                _free(f"{n}.branch4.0", n, "maxpool", depth, hw, 3),
                _conv(f"{n}.branch4.1", n, depth, r.pool_proj, 1, hw, v),
            ]
            depth = arch.inception_out_channels(r)
            if aux_logits and n in arch.AUX_ON.values():
                aux = next(a for a, on in arch.AUX_ON.items() if on == n)
                costs += _aux_costs(aux, depth, num_classes, v)
        elif r.kind == "avgpool":
            costs.append(_free("avgpool", r.key, "avgpool", depth, 1, sizes.get("inception5b", 7)))
        elif r.kind == "dropout":
            costs.append(_free("dropout", r.key, "dropout", depth, 1))
        elif r.kind == "linear":
            costs.append(_linear("fc", r.key, depth, num_classes))
            depth = num_classes
        elif r.kind == "softmax":
            costs.append(_free("softmax", r.key, "softmax", depth, 1))
    return costs


def totals(costs: list[LayerCost]) -> dict[str, int]:
    """Sum of ``num_params``, ``num_weights`` and ``macs`` over a list of layers."""
    return {k: sum(getattr(c, k) for c in costs) for k in ("num_params", "num_weights", "macs")}


# --- Table 1 row by row ---------------------------------------------------------------------------

def _size_text(c: int, h: int, w: int) -> str:
    return f"{h}×{w}×{c}"


def _fits(value: float, printed: str, scale: float = 1.0) -> bool:
    """True when ``value`` rounds to the printed count (read with unit ``scale``)."""
    return abs(value - arch.parse_count(printed) * scale) <= arch.printed_precision(printed) * scale + 1e-6


def _fmt_k(x: float) -> str:
    return f"{x / 1024:,.1f}K"


def _row_note(r: arch.Row, weights: int, macs: int, hw: int, c_in: int, v: Variant) -> str:
    """Why the computed counts of row ``r`` differ from the printed ones, with the arithmetic."""
    if not r.paper_params:
        return ""
    params_ok = _fits(weights, r.paper_params, BINARY_K)
    ops_ok = _fits(macs, r.paper_ops)
    if params_ok and ops_ok:
        return ""
    printed_w = arch.parse_count(r.paper_params) * BINARY_K
    parts = []
    if not params_ok:
        parts.append(f"weights {weights:,} = {_fmt_k(weights)} (binary K) vs printed {r.paper_params}: "
                     f"{(weights - printed_w) / printed_w:+.1%}")
    if not ops_ok:
        parts.append(f"MACs {macs / 1e6:,.1f}M vs printed {r.paper_ops}")
    if hw > 1 and not (params_ok and ops_ok):
        # do the two printed cells agree with each other (ops = weights x H x W)?
        consistent = None
        for unit, scale in (("decimal", 1.0), ("binary", BINARY_K)):
            implied = arch.parse_count(r.paper_params) * scale * hw * hw
            if _fits(implied, r.paper_ops):
                consistent = f"{r.paper_params} ({unit} K) x {hw}x{hw} = {implied / 1e6:.1f}M"
                break
        if not ops_ok and consistent:
            parts.append(f"the two printed cells agree with each other ({consistent}), so the paper "
                         "counted a layer that differs from its own channel columns")
        elif ops_ok and not params_ok:
            if abs(weights - printed_w) <= 2 * arch.printed_precision(r.paper_params) * BINARY_K + 1e-6:
                parts.append("the printed ops fit the channel columns; the params are one unit off in "
                             "the last printed digit")
            else:
                parts.append("the printed ops fit the channel columns, the printed params do not "
                             f"({r.paper_params} x {hw}x{hw} = {printed_w * hw * hw / 1e6:.1f}M, not "
                             f"{r.paper_ops})")
    if r.key == "conv1":
        grey = r.kernel_stride[0] ** 2 * 1 * r.out_channels
        parts.append(f"a 1-channel (grey) input would give {grey:,} weights and {grey * hw * hw / 1e6:.1f}M "
                     "MACs: that does not fit either; with 3 input channels (§5: RGB) the counts are "
                     f"{weights:,} and {macs / 1e6:.1f}M")
    if r.kind == "inception" and v.name == "paper" and not params_ok:
        # which input depth would reproduce the printed params exactly?
        fixed = 9 * r.ch3x3red * r.ch3x3 + 25 * r.ch5x5red * r.ch5x5
        per_input = r.ch1x1 + r.ch3x3red + r.ch5x5red + r.pool_proj
        implied_c_in = (printed_w - fixed) / per_input
        if float(implied_c_in).is_integer():
            parts.append(f"the printed params equal exactly what an input depth of {int(implied_c_in)} gives "
                         f"({int(implied_c_in)}x{per_input} + 9x{r.ch3x3red}x{r.ch3x3} + "
                         f"25x{r.ch5x5red}x{r.ch5x5} = {int(printed_w):,} = {r.paper_params} x 1024), "
                         f"not the {c_in} that the previous row outputs")
    return "; ".join(parts)


def table1(variant: str | Variant = "paper") -> pd.DataFrame:
    """Table 1 (§5) reproduced row by row at 224x224, beside the paper's printed numbers.

    Columns: ``layer`` (the printed row name), ``key``, ``patch``, ``output_size`` (computed),
    ``num_params`` (with biases / batch norm), ``num_weights`` (what the paper counts), ``macs``,
    ``paper_params`` and ``paper_ops`` (verbatim), ``params_diff`` (``num_weights`` minus the
    printed params read in binary thousands, 1K = 1024), ``macs_diff`` (``macs`` minus the printed
    ops, 1M = 10^6), ``params_fit`` and ``ops_fit`` (within the printed rounding) and ``note``:
    the arithmetic behind each disagreement.
    """
    v = get_variant(variant)
    costs = layer_costs(v, arch.INPUT_SIZE)
    rows = []
    for r in arch.TABLE1:
        mine = [c for c in costs if c.row == r.key]
        main = mine[-1] if r.kind != "conv" or r.key == "conv1" else next(c for c in mine if c.name == "conv3")
        if r.kind == "inception":
            c_out, hw = arch.inception_out_channels(r), main.out_shape[1]
        else:
            c_out, hw = main.out_shape[0], main.out_shape[1]
        t = totals(mine)
        c_in = arch.in_channels(r.key)
        has_paper = bool(r.paper_params)
        rows.append({
            "layer": r.layer,
            "key": r.key,
            "patch": r.patch,
            "output_size": _size_text(c_out, hw, hw),
            "num_params": t["num_params"],
            "num_weights": t["num_weights"],
            "macs": t["macs"],
            "paper_params": r.paper_params,
            "paper_ops": r.paper_ops,
            "params_diff": (t["num_weights"] - round(arch.parse_count(r.paper_params) * BINARY_K))
            if has_paper else None,
            "macs_diff": (t["macs"] - arch.parse_count(r.paper_ops)) if has_paper else None,
            "params_fit": _fits(t["num_weights"], r.paper_params, BINARY_K) if has_paper else None,
            "ops_fit": _fits(t["macs"], r.paper_ops) if has_paper else None,
            "note": _row_note(r, t["num_weights"], t["macs"], hw, c_in, v),
        })
    df = pd.DataFrame(rows)
    if v.name != "paper":
        # the printed numbers describe the paper's network: explain them there, and say what this
        # variant changes in the row
        paper = table1("paper").set_index("key")
        for i, r in df.iterrows():
            if not r.paper_params:
                continue
            changed = (r.num_weights, r.macs) != (paper.loc[r.key, "num_weights"], paper.loc[r.key, "macs"])
            why = (f"{v.name}: {r.num_weights:,} weights and {r.macs / 1e6:.1f}M MACs "
                   f"({v.branch3_kernel}x{v.branch3_kernel} kernels in the 5x5 branch; see utils.model.Variant); "
                   if changed else "")
            paper_note = paper.loc[r.key, "note"]
            if why or paper_note:
                df.loc[i, "note"] = why + (f"paper variant: {paper_note}" if paper_note else "paper variant fits")
    for col in ("params_diff", "macs_diff"):
        df[col] = df[col].astype("Int64")
    return df


def paper_printed_totals() -> dict[str, int]:
    """Column sums of Table 1's printed params (binary K) and ops (decimal M)."""
    params = sum(arch.parse_count(r.paper_params) for r in arch.TABLE1 if r.paper_params)
    ops = sum(arch.parse_count(r.paper_ops) for r in arch.TABLE1 if r.paper_ops)
    return {"num_weights": round(params * BINARY_K), "macs": ops}


def totals_verdict(variant: str | Variant = "paper") -> pd.DataFrame:
    """The column totals beside the paper's headline claims (§1, §5), with a verdict for each."""
    v = get_variant(variant)
    t = totals(layer_costs(v))
    printed = paper_printed_totals()
    ratio = ALEXNET_NUM_PARAMS / t["num_params"]
    claim_ratio = PAPER_FEWER_PARAMS_THAN_ALEXNET
    rows = [
        ("weights (Table 1 sum)", f"{t['num_weights']:,}", f"{printed['num_weights']:,}",
         f"{(t['num_weights'] - printed['num_weights']) / printed['num_weights']:+.1%} vs the printed "
         "column sum (binary K)" + ("; the row differences largely cancel"
                                    if abs(t["num_weights"] / printed["num_weights"] - 1) < 0.01 else "")),
        ("num_params incl. biases/BN, no aux heads", f"{t['num_params']:,}", "not printed",
         f"{'batch norm' if v.batch_norm else 'biases'} add {t['num_params'] - t['num_weights']:,} to the weights"),
        ("fewer params than AlexNet (§1)", f"{ratio:.1f}x", f"{claim_ratio}x",
         f"AlexNet's {ALEXNET_NUM_PARAMS:,} / {t['num_params']:,} = {ratio:.1f}x; {claim_ratio}x would "
         f"need about {ALEXNET_NUM_PARAMS / claim_ratio / 1e6:.1f}M parameters: the claim is generous"),
        ("MACs (Table 1 sum)", f"{t['macs']:,}", f"{printed['macs']:,}",
         f"{(t['macs'] - printed['macs']) / printed['macs']:+.1%} vs the printed column sum"),
        ("MACs vs the 1.5G budget (§1, §5)", f"{t['macs']:,}", f"{PAPER_MACS_BUDGET:,}",
         ("within" if t["macs"] <= PAPER_MACS_BUDGET else "above") +
         f" the budget by {abs(t['macs'] - PAPER_MACS_BUDGET) / PAPER_MACS_BUDGET:.1%}"),
    ]
    return pd.DataFrame(rows, columns=["quantity", "computed", "paper", "verdict"])


# --- per branch -------------------------------------------------------------------------------------

def branch_breakdown(variant: str | Variant = "paper", input_size: int = arch.INPUT_SIZE) -> pd.DataFrame:
    """Parameters and MACs of each branch of each Inception module (§4, Figure 2(b); Table 1).

    Columns: ``module``, ``branch``, ``label`` (1x1, 3x3, 5x5, pool proj), ``num_params``, ``macs``,
    ``params_share_of_module``, ``macs_share_of_module``, ``params_share_of_network``,
    ``macs_share_of_network`` (fractions; the network is the inference network, no aux heads).
    """
    costs = layer_costs(variant, input_size)
    net = totals(costs)
    rows = []
    for key in arch.INCEPTION_KEYS:
        module = [c for c in costs if c.row == key]
        mt = totals(module)
        for b in arch.BRANCHES:
            bt = totals([c for c in module if c.branch == b])
            rows.append({
                "module": key, "branch": b, "label": arch.BRANCH_LABELS[b],
                "num_params": bt["num_params"], "macs": bt["macs"],
                "params_share_of_module": bt["num_params"] / mt["num_params"],
                "macs_share_of_module": bt["macs"] / mt["macs"],
                "params_share_of_network": bt["num_params"] / net["num_params"],
                "macs_share_of_network": bt["macs"] / net["macs"],
            })
    return pd.DataFrame(rows)


def stage_breakdown(variant: str | Variant = "paper", input_size: int = arch.INPUT_SIZE,
                    aux_logits: bool = True) -> pd.DataFrame:
    """Parameters and MACs per stage: stem (conv1-conv3), 3, 4, 5, classifier, auxiliary heads."""
    def stage(c: LayerCost) -> str:
        if c.row.startswith("aux"):
            return "aux heads (training only)"
        if c.row.startswith("inception"):
            return f"inception{c.row[9]}"
        if c.row in ("conv1", "conv2", "maxpool1", "maxpool2"):
            return "stem"
        if c.row in ("maxpool3", "maxpool4"):
            return "inception" + {"maxpool3": "4", "maxpool4": "5"}[c.row]
        return "classifier"
    df = pd.DataFrame([{**asdict(c), "stage": stage(c)} for c in
                       layer_costs(variant, input_size, aux_logits=aux_logits)])
    order = ["stem", "inception3", "inception4", "inception5", "classifier", "aux heads (training only)"]
    out = df.groupby("stage")[["num_params", "macs"]].sum().reindex([o for o in order if o in set(df.stage)])
    inference = out.drop(index="aux heads (training only)", errors="ignore").sum()
    out["params_share"] = out["num_params"] / inference["num_params"]
    out["macs_share"] = out["macs"] / inference["macs"]
    return out.reset_index()


def layer_table(variant: str | Variant = "paper", input_size: int = arch.INPUT_SIZE,
                aux_logits: bool = False) -> pd.DataFrame:
    """:func:`layer_costs` as a DataFrame, one row per layer."""
    rows = []
    for c in layer_costs(variant, input_size, aux_logits=aux_logits):
        d = asdict(c)
        d["out_shape"] = "×".join(str(x) for x in c.out_shape)
        rows.append(d)
    return pd.DataFrame(rows)


# --- measured counters --------------------------------------------------------------------------------

def _input(input_size: int | tuple[int, int]):
    import torch

    if isinstance(input_size, int) and not isinstance(input_size, bool):
        h = w = input_size
    elif isinstance(input_size, tuple | list) and len(input_size) == 2 and all(isinstance(s, int) for s in input_size):
        h, w = input_size
    else:
        raise ValueError(f"input_size must be an int or a (H, W) pair of ints, got {input_size!r}")
    if h < 1 or w < 1:
        raise ValueError(f"input_size must be positive, got {input_size!r}")
    return torch.zeros(1, 3, h, w)


def _flop_counter_flops(model, x) -> dict[str, int]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return {str(op).split(".")[-1]: int(n) for op, n in fc.get_flop_counts()["Global"].items()}


def _fvcore_flops(model, x) -> tuple[dict[str, int], dict[str, int]]:
    """fvcore's counts per op type (it counts one multiply-add as one "flop") and the ops it skipped."""
    import logging

    with warnings.catch_warnings():  # fvcore's import uses torch.jit.script, deprecated in new torch
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with warnings.catch_warnings():  # the JIT tracer's notes about the model are not about counting
        warnings.simplefilter("ignore")
        by_op = {k: int(n) for k, n in analysis.by_operator().items()}
    return by_op, dict(analysis.unsupported_ops())


def count(model, input_size: int | tuple[int, int] = arch.INPUT_SIZE) -> dict[str, int]:
    """Trainable parameters and multiply-adds of any ``nn.Module`` on one 3-channel image.

    MACs come from ``torch.utils.flop_counter.FlopCounterMode`` (its FLOPs halved): convolutions
    and matrix multiplies only, the same definition as :func:`layer_costs`.

    Args:
        model: a module taking ``(1, 3, H, W)``; it is put in eval mode for the count.
        input_size: ``224`` or ``(H, W)``.
    """
    from torch import nn

    if not isinstance(model, nn.Module):
        raise ValueError(f"count() needs a torch.nn.Module, got {type(model).__name__}")
    x = _input(input_size)
    was_training = model.training
    model.eval()
    try:
        flops = sum(_flop_counter_flops(model, x).values())
    finally:
        model.train(was_training)
    return {"num_params": sum(p.numel() for p in model.parameters() if p.requires_grad), "macs": flops // 2}


# What each counter does with each op, for the side-by-side table.
_OP_GROUPS = {
    "convolution": ("conv", "convolution"),
    "linear": ("linear", "addmm", "mm", "matmul"),
    "batch_norm": ("batch_norm",),
    "adaptive_avg_pool2d": ("adaptive_avg_pool2d",),
}


def compare_counters(variant: str | Variant = "paper", input_size: int = arch.INPUT_SIZE) -> pd.DataFrame:
    """The analytic counter, fvcore and FlopCounterMode side by side, per op type (inference network).

    Columns: ``op``, ``analytic_macs``, ``fvcore_flops_as_macs`` (fvcore calls one multiply-add one
    flop), ``flop_counter_flops`` (FlopCounterMode: 2 per multiply-add), ``flop_counter_macs``
    (halved) and ``note``. A final ``conv+linear`` row holds the sums the three must agree on.
    """
    import torch

    from .model import googlenet

    v = get_variant(variant)
    _check_input_size(input_size, v)
    torch.manual_seed(0)
    model = googlenet(v.name, aux_logits=False).eval()
    x = _input(input_size)
    fv, skipped = _fvcore_flops(model, x)
    fc = _flop_counter_flops(model, x)
    costs = layer_costs(v, input_size)
    analytic = {"convolution": sum(c.macs for c in costs if c.kind == "conv"),
                "linear": sum(c.macs for c in costs if c.kind == "linear")}

    def pick(counts: dict[str, int], names: tuple[str, ...]) -> int:
        return sum(n for op, n in counts.items() if op in names)

    notes = {
        "convolution": "k*k*c_in*c_out*H*W; bias adds not counted by any of the three",
        "linear": "c_in*c_out; fvcore sees it as addmm",
        "batch_norm": "fvcore counts batch norm (elementwise, torchvision variant only); not a MAC here",
        "adaptive_avg_pool2d": "fvcore counts one op per input element of the global average pool",
    }
    rows = []
    for op, names in _OP_GROUPS.items():
        fvn, fcn = pick(fv, names), pick(fc, names)
        if op in analytic or fvn or fcn:
            rows.append({"op": op, "analytic_macs": analytic.get(op, 0), "fvcore_flops_as_macs": fvn,
                         "flop_counter_flops": fcn, "flop_counter_macs": fcn // 2, "note": notes[op]})
    counted = {n for names in _OP_GROUPS.values() for n in names}
    for op, n in sorted(fv.items()):
        if op not in counted:
            rows.append({"op": op, "analytic_macs": 0, "fvcore_flops_as_macs": n, "flop_counter_flops": 0,
                         "flop_counter_macs": 0, "note": "counted by fvcore only"})
    for op, times in sorted(skipped.items()):
        op = op.removeprefix("aten::")
        if op == "max_pool2d":
            why = "max pools compare, they do not multiply"
        elif v.lrn and op in ("pow", "avg_pool3d", "pad", "div", "mul", "add"):
            why = "part of LocalResponseNorm (Figure 3), which PyTorch computes elementwise"
        elif v.transform_input and op in ("add", "sub", "mul", "div"):
            why = "transform_input's rescaling of the image"
        else:
            why = "elementwise"
        rows.append({"op": op, "analytic_macs": 0, "fvcore_flops_as_macs": 0, "flop_counter_flops": 0,
                     "flop_counter_macs": 0, "note": f"{why}; not counted by any (fvcore: unsupported, "
                                                     f"calls: {times})"})
    rows.append({"op": "relu", "analytic_macs": 0, "fvcore_flops_as_macs": 0, "flop_counter_flops": 0,
                 "flop_counter_macs": 0, "note": "ignored silently by all three"})
    conv_lin = ("convolution", "linear")
    rows.append({
        "op": "conv+linear",
        "analytic_macs": sum(analytic.values()),
        "fvcore_flops_as_macs": sum(pick(fv, _OP_GROUPS[o]) for o in conv_lin),
        "flop_counter_flops": sum(pick(fc, _OP_GROUPS[o]) for o in conv_lin),
        "flop_counter_macs": sum(pick(fc, _OP_GROUPS[o]) for o in conv_lin) // 2,
        "note": "the three must agree here (1 MAC = 2 FLOPs)",
    })
    return pd.DataFrame(rows)


# --- command line -------------------------------------------------------------------------------------

def _emit(df: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "json":
        return json.dumps(json.loads(df.to_json(orient="records")), indent=1, ensure_ascii=False)
    return df.to_markdown(index=False)


def _cmd_table1(args: argparse.Namespace) -> int:
    df = table1(args.variant)
    if args.format != "markdown":
        sys.stdout.write(_emit(df, args.format) + "\n")
        return 0
    shown = df[["layer", "output_size", "num_weights", "macs", "paper_params", "paper_ops",
                "params_fit", "ops_fit"]]
    out = [f"# Table 1 (§5), {get_variant(args.variant).name} variant, 224x224",
           "",
           "num_weights: conv/linear weights (Table 1's params); printed params read with K = 1024, "
           "ops with M = 10^6; MACs exclude bias adds.",
           "",
           shown.to_markdown(index=False),
           "",
           "## Where the paper and the computation disagree",
           ""]
    out += [f"- {r.layer} ({r.key}): {r.note}" for r in df.itertuples() if r.note]
    out += ["", "## Totals vs the headline figures (§1, §5)", "",
            totals_verdict(args.variant).to_markdown(index=False)]
    print("\n".join(out))
    return 0


def _cmd_profile(args: argparse.Namespace) -> int:
    if args.by == "branch" and args.aux:
        raise ValueError("--aux works with --by layer only: the auxiliary heads have no Inception branches")
    if args.by == "branch":
        df = branch_breakdown(args.variant, args.input_size)
    else:
        df = layer_table(args.variant, args.input_size, aux_logits=args.aux)
    sys.stdout.write(_emit(df, args.format) + "\n")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {value}")
    return value


def add_cli(subparsers) -> None:
    """``table1`` and ``profile`` subcommands for ``python -m utils``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--variant", choices=sorted(VARIANTS), default="paper",
                        help="the paper's network or torchvision's port (default: paper)")
    common.add_argument("--format", choices=("markdown", "csv", "json"), default="markdown",
                        help="output format (default: markdown)")
    p = subparsers.add_parser("table1", parents=[common],
                              help="Table 1 (§5) recomputed beside the printed numbers, with explanations",
                              description="Recompute Table 1 at 224x224 from its channel columns and explain "
                                          "each row where the printed params/ops disagree. No tracing.")
    p.set_defaults(func=_cmd_table1)
    p = subparsers.add_parser("profile", parents=[common],
                              help="parameters and multiply-adds per layer or per Inception branch",
                              description="Analytic parameters and multiply-adds (conv and linear; bias "
                                          "adds excluded) per layer or per Inception branch.")
    p.add_argument("--by", choices=("layer", "branch"), default="layer", help="granularity (default: layer)")
    p.add_argument("--input-size", type=_positive_int, default=arch.INPUT_SIZE,
                   help=f"side of the square input (default: {arch.INPUT_SIZE})")
    p.add_argument("--aux", action="store_true", help="include the auxiliary classifiers (per-layer only)")
    p.set_defaults(func=_cmd_profile)


def variant_differences(input_size: int = arch.INPUT_SIZE, measure: bool = True) -> pd.DataFrame:
    """Each field of :class:`utils.model.Variant` switched from the paper's value to torchvision's,
    one at a time, with its effect on parameters and multiply-adds (inference network).

    Columns: ``field``, ``paper``, ``torchvision``, ``delta_num_params``, ``delta_macs`` (analytic,
    relative to the paper variant) and, with ``measure=True``, ``measured_delta_num_params`` and
    ``measured_delta_macs`` from building the network and counting it with :func:`count`.
    """
    from dataclasses import fields, replace

    from .model import PAPER, TORCHVISION, googlenet

    def analytic(v: Variant) -> dict[str, int]:
        return totals(layer_costs(v, input_size))

    def measured(v: Variant) -> dict[str, int]:
        import torch

        torch.manual_seed(0)
        return count(googlenet(v, aux_logits=False), input_size)

    base = analytic(PAPER)
    base_m = measured(PAPER) if measure else None
    rows = []
    for f in fields(Variant):
        if f.name == "name":
            continue
        v = replace(PAPER, name=f"paper+{f.name}", **{f.name: getattr(TORCHVISION, f.name)})
        a = analytic(v)
        row = {"field": f.name, "paper": getattr(PAPER, f.name), "torchvision": getattr(TORCHVISION, f.name),
               "delta_num_params": a["num_params"] - base["num_params"], "delta_macs": a["macs"] - base["macs"]}
        if measure:
            m = measured(v)
            row["measured_delta_num_params"] = m["num_params"] - base_m["num_params"]
            row["measured_delta_macs"] = m["macs"] - base_m["macs"]
        rows.append(row)
    return pd.DataFrame(rows)
