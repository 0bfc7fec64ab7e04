"""Table 1 (§5) recomputed from its channel columns and set beside the printed ``params`` and ``ops``.

Every row where the two disagree gets a note with the arithmetic that explains it; the column
totals are set beside the paper's headline claims (§1: 12 times fewer parameters than AlexNet;
§1, §5: a budget of 1.5 billion multiply-adds). The counts come from :mod:`utils.measuring.profiling`.
"""

from __future__ import annotations

import pandas as pd

from ..network import arch
from ..network.arch import Variant, get_variant
from .profiling import PAPER_MACS_BUDGET, layer_costs, totals
from .reference import PAPER_PARAMS_RATIO_VS_ALEXNET, reference

# torchvision's published AlexNet (utils.measuring.reference): the network §1 compares GoogLeNet with.
ALEXNET_NUM_PARAMS = reference("alexnet").num_params
PAPER_FEWER_PARAMS_THAN_ALEXNET = PAPER_PARAMS_RATIO_VS_ALEXNET  # §1

# Table 1's counts use binary thousands for params (see table1's notes): 1K = 1024 weights.
BINARY_K = 1.024


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
                   f"({v.branch3_kernel}x{v.branch3_kernel} kernels in the 5x5 branch; "
                   "see utils.network.model.Variant); "
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


