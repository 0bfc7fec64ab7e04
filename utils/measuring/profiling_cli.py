"""The ``table1`` and ``profile`` commands of ``python -m utils`` (Table 1 and the cost model, §5)."""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from ..cli_checks import positive_int
from ..network import arch
from ..network.arch import VARIANTS, get_variant
from .profiling import branch_breakdown, layer_table
from .table1 import table1, totals_verdict


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
        if args.format == "markdown":
            print(branch_report(df, args.variant, args.input_size))
            return 0
    else:
        df = layer_table(args.variant, args.input_size, aux_logits=args.aux)
    sys.stdout.write(_emit(df, args.format) + "\n")
    return 0


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def branch_report(df: pd.DataFrame, variant: str, input_size: int) -> str:
    """``profile --by branch`` for a reader: a title, what each row counts, percentages and totals.

    The csv and json formats keep :func:`utils.measuring.profiling.branch_breakdown`'s raw fractions
    for programs; this is the page a student reads.
    """
    v = get_variant(variant)
    label3 = arch.BRANCH_LABELS["branch3"] if v.name == "paper" else "3x3"  # vision#906
    net_macs = df["macs"].sum() / df["macs_share_of_network"].sum()  # the whole inference network
    lines = [f"# Multiply-adds and parameters per Inception branch: {v.name} variant, "
             f"{input_size}x{input_size} input (§4 Figure 2(b), §5 Table 1)",
             "",
             f"Each row is one branch of one module. branch1 is its 1x1 convolution; branch2 (3x3) and "
             f"branch3 ({label3}) include the 1x1 reduction in front of them (Table 1's #3x3 reduce and "
             f"#5x5 reduce); branch4 (pool proj) is the 3x3 max pool (no multiply-adds) and its 1x1 "
             f"projection. MACs are multiply-adds of convolutions (1 MAC = 2 FLOPs; bias adds excluded); "
             f"params include biases{'' if v.name == 'paper' else ' and batch norm'}. "
             "\"of module\" is the share of that module's total, \"of network\" of the whole inference "
             "network (no auxiliary heads).",
             ""]
    rows = []
    for module, group in df.groupby("module", sort=False):
        for r in group.itertuples():
            rows.append({"module": module, "branch": f"{r.branch} ({label3 if r.branch == 'branch3' else r.label})",
                         "params": f"{r.num_params:,}", "MMACs": f"{r.macs / 1e6:,.1f}",
                         "MACs of module": _pct(r.macs_share_of_module),
                         "MACs of network": _pct(r.macs_share_of_network),
                         "params of module": _pct(r.params_share_of_module)})
        rows.append({"module": module, "branch": "**total**", "params": f"{group.num_params.sum():,}",
                     "MMACs": f"{group.macs.sum() / 1e6:,.1f}",
                     "MACs of module": _pct(group.macs_share_of_module.sum()),
                     "MACs of network": _pct(group.macs_share_of_network.sum()),
                     "params of module": _pct(group.params_share_of_module.sum())})
    lines.append(pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True,
                                               colalign=("left", "left") + ("right",) * 5))
    all_macs = df["macs"].sum()
    lines += ["", f"All nine modules: {df.num_params.sum():,} params and {all_macs / 1e6:,.1f} M MACs, "
                  f"{_pct(all_macs / net_macs)} of the network's {net_macs / 1e6:,.1f} M MACs."]
    return "\n".join(lines)


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
    p.add_argument("--input-size", type=positive_int, default=arch.INPUT_SIZE,
                   help=f"side of the square input (default: {arch.INPUT_SIZE})")
    p.add_argument("--aux", action="store_true", help="include the auxiliary classifiers (per-layer only)")
    p.set_defaults(func=_cmd_profile)


