"""Figure 2(b) and Figure 3 of the paper redrawn from the Table 1 data, plus cost charts (§4, §5).

Drawn with matplotlib boxes and arrows, so the pictures follow :mod:`utils.network.arch` and the variant
rather than being typed by hand. Each function takes data and an optional ``ax`` and returns the
figure; saving goes through :func:`utils.presentation.viz.save_figure` (full mode only).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import FancyBboxPatch

from ..network import arch
from .viz import BRANCH_COLOURS

KIND_COLOURS = {"conv": "#8DA0CB", "maxpool": "#E5C494", "avgpool": "#E5C494", "inception": "#A6D854",
                "dropout": "#DDDDDD", "linear": "#FC8D62", "softmax": "#FFD92F", "lrn": "#CCCCCC",
                "aux": "#E78AC3"}


def _box(ax, x: float, y: float, w: float, h: float, text: str, colour: str, fontsize: float = 7):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02",
                                fc=colour, ec="#333333", lw=0.8))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, x0: float, y0: float, x1: float, y1: float):
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                arrowprops={"arrowstyle": "->", "lw": 0.8, "color": "#333333", "shrinkA": 0, "shrinkB": 0})


def inception_module(key: str = "inception3a", branch3_kernel: int = 5, macs: dict | None = None, ax=None):
    """The Inception module with dimension reductions (Figure 2(b)) for one Table 1 row.

    Args:
        key: the Table 1 row, e.g. ``"inception3a"``.
        branch3_kernel: 5 (paper) or 3 (torchvision's variant).
        macs: optional ``{branch: multiply-adds}`` printed under each branch.
    """
    r = arch.row(key)
    if r.kind != "inception":
        raise ValueError(f"{key!r} is not an Inception row; choose one of {', '.join(arch.INCEPTION_KEYS)}")
    c_in = arch.in_channels(key)
    k = branch3_kernel
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2))
    fig = ax.figure
    xs = dict(zip(arch.BRANCHES, (0.5, 1.7, 2.9, 4.1), strict=True))
    w, h = 1.05, 0.5
    _box(ax, 2.3, 0.0, 2.0, 0.45, f"previous layer\n{c_in} channels", "#EEEEEE")
    stacks = {
        "branch1": [f"1x1 conv\n{r.ch1x1}"],
        "branch2": [f"1x1 conv\n{r.ch3x3red}", f"3x3 conv\n{r.ch3x3}"],
        "branch3": [f"1x1 conv\n{r.ch5x5red}", f"{k}x{k} conv\n{r.ch5x5}"],
        "branch4": ["3x3 max pool\nstride 1", f"1x1 conv\n{r.pool_proj}"],
    }
    top = 3.0
    for b, labels in stacks.items():
        x = xs[b]
        ys = [1.2, 2.1] if len(labels) == 2 else [1.65]
        _arrow(ax, 2.3, 0.23, x, ys[0] - h / 2)
        for i, (y, text) in enumerate(zip(ys, labels, strict=True)):
            colour = "#E5C494" if "pool" in text else BRANCH_COLOURS[b]
            _box(ax, x, y, w, h, text, colour)
            if i:
                _arrow(ax, x, ys[i - 1] + h / 2, x, y - h / 2)
        _arrow(ax, x, ys[-1] + h / 2, 2.3, top - 0.23)
    if macs is not None:
        text = "   ".join(f"{b}: {macs[b] / 1e6:.0f}M" for b in arch.BRANCHES)
        ax.text(2.3, -0.5, f"multiply-adds  {text}", ha="center", fontsize=6.5, color="#444444")
    _box(ax, 2.3, top, 2.4, 0.45, f"filter concatenation\n{arch.inception_out_channels(r)} channels", "#EEEEEE")
    ax.set_xlim(-0.3, 4.9)
    ax.set_ylim(-0.7, 3.4)
    ax.set_axis_off()
    ax.set_title(f"{r.layer}: Inception module with dimension reductions (Figure 2(b))", fontsize=9)
    return fig


def googlenet_diagram(costs: pd.DataFrame, ax=None):
    """Figure 3 as one column of Table 1 rows, bottom to top, with the two auxiliary heads.

    Args:
        costs: :func:`utils.measuring.table1.table1` (columns ``layer``, ``key``, ``output_size``,
            ``macs``); box widths grow with each row's share of the multiply-adds.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 8.5))
    fig = ax.figure
    rows = costs.reset_index(drop=True)
    total = rows.macs.sum()
    step = 1.0
    for i, r in rows.iterrows():
        y = i * step
        kind = arch.row(r.key).kind
        width = 1.6 + 3.0 * (r.macs / total) ** 0.5
        _box(ax, 0, y, width, 0.62, f"{r.layer}  {r.output_size}", KIND_COLOURS[kind], fontsize=6.5)
        if r.macs:
            ax.text(width / 2 + 0.1, y, f"{r.macs / 1e6:.0f}M", va="center", fontsize=6, color="#555555")
        if i:
            _arrow(ax, 0, y - step + 0.31, 0, y - 0.31)
        if r.key in arch.AUX_ON.values():
            aux = next(a for a, on in arch.AUX_ON.items() if on == r.key)
            _box(ax, 3.6, y + 0.5, 2.0, 0.8, f"{aux}: avg pool 5x5/3,\n1x1 conv 128, FC 1024,\n"
                 "dropout 70%, linear", KIND_COLOURS["aux"], fontsize=5.5)
            _arrow(ax, 1.9, y + 0.1, 2.6, y + 0.5)
    ax.set_xlim(-2.8, 4.8)
    ax.set_ylim(-0.8, len(rows) * step)
    ax.set_axis_off()
    ax.set_title("GoogLeNet from Table 1 (Figure 3); width ~ sqrt(MACs share)", fontsize=9)
    return fig


def table1_costs(table: pd.DataFrame, fig=None):
    """Computed weights and MACs beside Table 1's printed params and ops, per row with numbers.

    Args:
        table: :func:`utils.measuring.table1.table1`.
    """
    t = table[table.paper_params != ""].reset_index(drop=True)
    printed_w = [arch.parse_count(p) * 1.024 for p in t.paper_params]
    printed_ops = [arch.parse_count(p) for p in t.paper_ops]
    fig = fig or plt.figure(figsize=(8.5, 3.4))
    axes = fig.subplots(1, 2)
    y = np.arange(len(t))
    for ax, mine, paper, title in ((axes[0], t.num_weights, printed_w, "weights (K = 1024)"),
                                   (axes[1], t.macs, printed_ops, "multiply-adds")):
        ax.barh(y - 0.2, np.asarray(mine) / 1e6, 0.4, label="computed", color="#4C72B0")
        ax.barh(y + 0.2, np.asarray(paper) / 1e6, 0.4, label="Table 1 printed", color="#DD8452")
        ax.set_yticks(y, [f"{n} ({k})" if n == "convolution" else n for n, k in zip(t.layer, t.key, strict=True)],
                      fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("millions", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    axes[0].legend(fontsize=7)
    axes[1].set_yticklabels([])
    fig.tight_layout()
    return fig


def branch_shares(breakdown: pd.DataFrame, value: str = "macs", ax=None, branch3_label: str = "5x5"):
    """Stacked bars: each Inception module's ``value`` (``macs`` or ``num_params``) split by branch.

    Args:
        breakdown: :func:`utils.measuring.profiling.branch_breakdown`.
    """
    if value not in ("macs", "num_params"):
        raise ValueError(f"value must be 'macs' or 'num_params', got {value!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.0))
    fig = ax.figure
    pivot = breakdown.pivot(index="module", columns="branch", values=value).loc[list(arch.INCEPTION_KEYS)]
    bottom = np.zeros(len(pivot))
    for b in arch.BRANCHES:
        label = branch3_label if b == "branch3" else arch.BRANCH_LABELS[b]
        ax.bar(range(len(pivot)), pivot[b] / 1e6, bottom=bottom, color=BRANCH_COLOURS[b], label=f"{b} ({label})")
        bottom += pivot[b].to_numpy() / 1e6
    ax.set_xticks(range(len(pivot)), [k.removeprefix("inception") for k in pivot.index], fontsize=8)
    ax.set_ylabel(("multiply-adds" if value == "macs" else "parameters") + " (millions)", fontsize=8)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(f"{'Multiply-adds' if value == 'macs' else 'Parameters'} per Inception module, by branch",
                 fontsize=9)
    return fig
