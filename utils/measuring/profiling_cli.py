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
    else:
        df = layer_table(args.variant, args.input_size, aux_logits=args.aux)
    sys.stdout.write(_emit(df, args.format) + "\n")
    return 0


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


