"""Turn the measurements of :mod:`benchmarks.inference` and :mod:`benchmarks.extras` into Markdown and JSON."""

from __future__ import annotations

import json
import math
import platform

import pandas as pd
import torch

# Targets, as ratios measured in the same run on 2 CPU cores.
TARGET_INFERENCE_SPEEDUP = 1.8  # fast path vs torchvision's googlenet, batch 8
TARGET_PEAK_FRACTION = 0.8  # of the measured torch.mm fp32 peak, batch 8
TARGET_TRAINING_SPEEDUP = 1.3  # training loop vs the plain loop


def _table(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    """A Markdown table without the optional ``tabulate`` dependency."""
    cols = list(df.columns)

    def cell(v) -> str:
        if isinstance(v, float):
            return "" if math.isnan(v) else format(v, floatfmt)
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _verdict(value: float | None, target: float) -> str:
    if value is None:
        return "not measured"
    return "meets target" if value >= target else "below target"


def training_speedup(training: dict | None) -> float | None:
    if not training:
        return None
    for key in ("training_speedup_vs_torchvision", "speedup_vs_torchvision", "speedup"):
        if isinstance(training.get(key), int | float):
            return float(training[key])
    return None


def summary(result: dict) -> dict:
    """The three headline numbers (the ``--json`` keys) plus context."""
    return {
        "inference_speedup_vs_torchvision": result["inference_speedup_vs_torchvision"],
        "gemm_peak_fraction": result["gemm_peak_fraction"],
        "training_speedup_vs_torchvision": training_speedup(result.get("training")),
        "matmul_peak_gflops": result["matmul_peak_gflops"],
        "conv_peak_gflops": result["conv_peak_gflops"],
        "threads": result["threads"],
        "quick": result["quick"],
    }


def to_json(result: dict) -> str:
    out = summary(result)
    out["throughput"] = result["throughput"].to_dict(orient="records")
    out["speedups"] = result["speedups"].to_dict(orient="records")
    out["branches"] = result["branches"].to_dict(orient="records")
    for key in ("training", "recorder_overhead", "cli", "notebooks"):
        out[key] = result.get(key)
    return json.dumps(out, indent=2, default=str)


def to_markdown(result: dict) -> str:
    s = summary(result)
    train = s["training_speedup_vs_torchvision"]
    macs = result["macs_per_image"]
    lines = [
        "# Performance report",
        "",
        f"CPU: {platform.processor() or platform.machine()}, {result['threads']} threads, "
        f"torch {torch.__version__}. Mode: {'quick' if result['quick'] else 'full'}. "
        "Throughput is the best of several passes, per-layer times are medians; every ratio compares two "
        "measurements from the same run, the models taking turns.",
        "",
        "## Headline",
        "",
        _table(pd.DataFrame([
            {"measure": "inference speed-up vs torchvision googlenet (batch 8)",
             "value": s["inference_speedup_vs_torchvision"], "target": TARGET_INFERENCE_SPEEDUP,
             "verdict": _verdict(s["inference_speedup_vs_torchvision"], TARGET_INFERENCE_SPEEDUP)},
            {"measure": "fraction of torch.mm fp32 peak (batch 8)", "value": s["gemm_peak_fraction"],
             "target": TARGET_PEAK_FRACTION, "verdict": _verdict(s["gemm_peak_fraction"], TARGET_PEAK_FRACTION)},
            {"measure": "training speed-up vs plain loop", "value": train, "target": TARGET_TRAINING_SPEEDUP,
             "verdict": _verdict(train, TARGET_TRAINING_SPEEDUP)},
        ])),
        "",
        f"Measured peaks: torch.mm {s['matmul_peak_gflops']:.0f} GFLOP/s; a large channels-last 1x1 "
        f"convolution (oneDNN) {s['conv_peak_gflops']:.0f} GFLOP/s. The fraction above uses torch.mm, as "
        "specified; where the convolution library is faster than torch.mm's, the fraction can exceed 1.",
        "",
        "## Inference throughput",
        "",
        f"Multiply-adds per 224x224 image (utils.profiling, Table 1 arithmetic): torchvision variant "
        f"{macs['torchvision'] / 1e9:.3f} G, paper variant {macs['paper'] / 1e9:.3f} G (1 MAC = 2 FLOPs). "
        "torchvision: `torchvision.models.googlenet(weights=None)`, eval, NCHW, no_grad. "
        "fast: `utils.fast.optimize_for_inference` (batch norm folded, channels-last).",
        "",
        _table(result["throughput"]),
        "",
        _table(result["speedups"]),
        "",
        "## Per-branch latency vs multiply-adds (fast path, batch 8)",
        "",
        "Achieved GFLOP/s per branch. The pool-projection branch (branch4) spends time in a max "
        "pool with no multiply-adds, and 1x1 convolutions on 7x7 or 14x14 maps do little arithmetic "
        "per byte they read: both sit far below the matmul peak (memory-bound).",
        "",
        _table(result["branches"][["module", "branch", "ms", "macs", "gflops_per_s", "flops_per_byte",
                                   "share_of_module_ms", "share_of_module_macs"]]),
        "",
        "## Per-layer kinds (fast path, batch 8)",
        "",
        _table(_by_kind(result["layers"])),
        "",
    ]
    lines += ["## Training", ""]
    if result.get("training"):
        lines += [_training_markdown(result["training"]), ""]
    else:
        lines += ["benchmarks.training is not available; training speed-up not measured.", ""]
    lines += ["## Recording activations", ""]
    ro = result.get("recorder_overhead")
    lines += [f"plain {ro['plain_ms']:.1f} ms, recorded {ro['recorded_ms']:.1f} ms, "
              f"overhead {100 * ro['overhead']:.1f}%." if ro else "utils.activations.recorder_overhead "
              "is not available.", ""]
    if result.get("cli"):
        lines += ["## Command line", "", _table(pd.DataFrame(result["cli"])), ""]
    if result.get("notebooks"):
        lines += ["## Notebooks in quick mode", "", _table(pd.DataFrame(result["notebooks"])), ""]
    return "\n".join(lines)


def _training_markdown(training: dict) -> str:
    """benchmarks.training's own rendering, its headings one level down; JSON if it has none."""
    try:
        from benchmarks.training import markdown

        text = markdown(training)
    except (ImportError, KeyError, TypeError):
        return "```\n" + json.dumps(training, indent=2, default=str) + "\n```"
    return "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())


def _by_kind(layers: pd.DataFrame) -> pd.DataFrame:
    df = layers.copy()
    df["layer"] = [f"{k} {kern}x{kern}" if k in ("conv", "maxpool") else k
                   for k, kern in zip(df["kind"], df["kernel"], strict=True)]
    g = df.groupby("layer")[["ms", "macs", "bytes_moved"]].sum().reset_index()
    g["gflops_per_s"] = 2 * g["macs"] / (g["ms"] / 1e3) / 1e9
    g["flops_per_byte"] = 2 * g["macs"] / g["bytes_moved"]
    g["share_of_time"] = g["ms"] / g["ms"].sum()
    return g.sort_values("ms", ascending=False)
