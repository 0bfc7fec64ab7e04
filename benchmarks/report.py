"""Turn the measurements of :mod:`benchmarks.inference` and :mod:`benchmarks.extras` into Markdown and JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import torch

from utils.network.arch import layer_specs

from .training import TRAINING_IMAGE_SIZE

# Targets for performance against the machine, as ratios measured in the same run on 2 CPU cores.
TARGETS = {
    "inference_fraction_of_best_kernel": (0.85, ">="),  # torchvision variant, fast path, largest batch (32)
    "paper_inference_fraction_of_best_kernel": (0.6, ">="),  # paper variant (LRN, 5x5), fast path, largest batch
    "inference_speedup_vs_torchvision": (1.8, ">="),  # fast path vs torchvision's googlenet, batch 8
    "inference_speedup_vs_best_peer": (1.0, ">="),  # worst batch: best of ONNX Runtime, OpenVINO over the fast path
    "paper_inference_speedup_vs_best_peer": (1.0, ">="),  # the same for the paper variant
    "training_speedup_vs_torchvision": (1.3, ">="),  # project step vs a plain loop, training_image_size
    "lrn_share_of_paper_training_step": (0.1, "<="),  # paper step, 112 px, channels-last, batch 32
    "per_layer_repeatability": (1.25, "<="),  # largest ratio between layers with identical shapes
}
# The --json keys, in order.
KEYS = ("best_kernel_gflops", "inference_fraction_of_best_kernel", "paper_inference_fraction_of_best_kernel",
        "inference_speedup_vs_torchvision", "inference_speedup_vs_best_peer", "paper_inference_speedup_vs_best_peer",
        "training_speedup_vs_torchvision", "training_image_size",
        "lrn_share_of_paper_training_step", "per_layer_repeatability")


# The full run's JSON report (python -m benchmarks --json benchmarks/REPORT.json), read by notebook 07.
REPORT_JSON = Path(__file__).resolve().parent / "REPORT.json"


def read_json(path: Path = REPORT_JSON) -> dict:
    """The saved JSON report; a clear error when it was never written."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no benchmark report at {path}; write one with "
                                f"`python -m benchmarks --json {path}`")
    return json.loads(path.read_text(encoding="utf-8"))


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


def _verdict(key: str, value: float | None) -> str:
    target, sense = TARGETS[key]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not measured"
    met = value >= target if sense == ">=" else value <= target
    return "meets target" if met else "misses target"


def summary(result: dict) -> dict:
    """The headline numbers (the ``--json`` keys) plus context."""
    training = result.get("training") or {}
    out = {
        "best_kernel_gflops": result["best_kernel_gflops"],
        "inference_fraction_of_best_kernel": result["inference_fraction_of_best_kernel"],
        "paper_inference_fraction_of_best_kernel": result["paper_inference_fraction_of_best_kernel"],
        "inference_speedup_vs_torchvision": result["inference_speedup_vs_torchvision"],
        "inference_speedup_vs_best_peer": result.get("inference_speedup_vs_best_peer"),
        "paper_inference_speedup_vs_best_peer": result.get("paper_inference_speedup_vs_best_peer"),
        "training_speedup_vs_torchvision": training.get("training_speedup_vs_torchvision"),
        "training_image_size": training.get("training_image_size"),
        "lrn_share_of_paper_training_step": training.get("lrn_share_of_paper_training_step"),
        "per_layer_repeatability": result["per_layer_repeatability"],
    }
    out.update({"gemm_gflops": result["matmul_peak_gflops"], "conv_gflops": result["conv_peak_gflops"],
                "theoretical_peak_gflops": result["theoretical_peak"]["gflops"],
                "threads": result["threads"], "quick": result["quick"]})
    return out


def to_json(result: dict) -> str:
    out = summary(result)
    out["theoretical_peak"] = result["theoretical_peak"]
    for key in ("throughput", "speedups", "branches", "repeatability"):
        out[key] = result[key].to_dict(orient="records")
    for key in ("peer_ratios", "paper_peer_ratios", "output_errors"):
        out[key] = result[key].to_dict(orient="records") if key in result else None
    for key in ("training", "recorder_overhead", "cli", "notebooks", "photo_model", "peer_ms", "paper_peer_ms",
                "engine_versions", "load_average", "fraction_batch"):
        out[key] = result.get(key)
    shipped = (result.get("photo_model") or {}).get("shipped") or {}
    out["photo_model_val_top1"] = shipped.get("val_top1")
    out["photo_model_time_to_80_s"] = shipped.get("time_to_target_s")
    return json.dumps(out, indent=2, default=str)


def format_value(value) -> str:
    if value is None:
        return "not measured"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def where_the_time_goes(result: dict) -> list[str]:
    """One line per missed target: what the measurements say the time is spent on."""
    s, lines = summary(result), []
    layers = result["layers"]
    kinds = _by_kind(layers)
    if _verdict("inference_fraction_of_best_kernel", s["inference_fraction_of_best_kernel"]) == "misses target":
        slow = kinds[kinds["gflops_per_s"] < 0.5 * s["best_kernel_gflops"]]
        lines.append(
            f"- torchvision variant at {s['inference_fraction_of_best_kernel']:.2f} of the best kernel: layers "
            f"running below half the best kernel ({', '.join(slow['layer'])}) take "
            f"{slow['share_of_time'].sum():.0%} of the per-layer time; pools have no multiply-adds at all "
            f"and 1x1 convolutions on 14x14 and 7x7 maps read more bytes per multiply-add than a GEMM. "
            f"The layers timed alone add up to {result['layer_sum_over_forward']:.2f} of a whole forward "
            "pass; the rest is concatenation and cache misses between layers.")
    if _verdict("paper_inference_fraction_of_best_kernel",
                s["paper_inference_fraction_of_best_kernel"]) == "misses target":
        paper = _by_kind(result["layers_paper"])
        lrn = paper[paper["layer"] == "lrn"]["share_of_time"].sum()
        k5 = paper[paper["layer"] == "conv 5x5"]
        lines.append(
            f"- paper variant at {s['paper_inference_fraction_of_best_kernel']:.2f}: LRN takes {lrn:.0%} of its "
            f"per-layer time with no multiply-adds; its 5x5 convolutions run at "
            f"{float(k5['gflops_per_s'].iloc[0]) if len(k5) else float('nan'):.0f} GFLOP/s.")
    if _verdict("training_speedup_vs_torchvision", s["training_speedup_vs_torchvision"]) == "misses target":
        lines.append(
            "- training: both loops run the same network and the same oneDNN kernels; the project's step "
            "gains only what channels-last buys in the backward pass (see the loop options of "
            "`python -m benchmarks.training --loop-options`).")
    if _verdict("lrn_share_of_paper_training_step", s["lrn_share_of_paper_training_step"]) == "misses target":
        size = s["training_image_size"] or TRAINING_IMAGE_SIZE
        maps = " and ".join(f"{spec.out_size}x{spec.out_size}x{spec.out_channels}"
                            for spec in layer_specs("paper", size) if spec.kind == "lrn")
        lines.append(f"- LRN: the two layers run on the two largest maps of the network ({maps} at {size} px); "
                     "their forward and backward passes are memory-bound elementwise work.")
    if _verdict("per_layer_repeatability", s["per_layer_repeatability"]) == "misses target":
        worst = result["repeatability"].iloc[0]
        lines.append(f"- repeatability: {worst['layers']} ({worst['kind']}) took {worst['min_ms']:.3f} to "
                     f"{worst['max_ms']:.3f} ms: load from other processes during the run.")
    return lines


def to_markdown(result: dict) -> str:
    """The whole report: its sections in order, each a list of lines (empty when there is nothing to show)."""
    sections = (_opening, _headline, _ceiling, against_peers_markdown, _missed_targets, _inference_throughput,
                _repeatability, _branches, _layer_kinds, _training, _photo_model, _evaluation, _recording,
                _command_line, _notebooks)
    return "\n".join(line for section in sections for line in section(result))


def _section(title: str, *blocks: str) -> list[str]:
    """A ``##`` heading followed by its blocks, each followed by a blank line."""
    lines = [f"## {title}", ""]
    for block in blocks:
        lines += [block, ""]
    return lines


def _opening(result: dict) -> list[str]:
    peak = result["theoretical_peak"]
    return ["# Performance report", "",
            f"CPU: {peak['model']}, {result['threads']} threads, torch {torch.__version__}. Mode: "
            f"{'quick' if result['quick'] else 'full'}. Throughput is the best of several passes, the models "
            f"taking turns{_settled(result)}; per-layer times are medians of layers replayed alone, taking turns. "
            "Every ratio compares two measurements from the same run.", ""]


def _settled(result: dict) -> str:
    """How each model's turn starts, in words ("" for a result measured without a settle)."""
    settle = result.get("settle_s") or 0
    if not settle:
        return ""
    return (f", each turn opening with {1e3 * settle:.0f} ms of untimed passes of the same model (its thread pool "
            "awake, the previous model's gone quiet: a pool that still spins takes the cores from the next model)")


def _headline(result: dict) -> list[str]:
    s = summary(result)
    rows = [{"key": k, "value": format_value(s[k]),
             "target": f"{TARGETS[k][1]} {TARGETS[k][0]}" if k in TARGETS else "",
             "verdict": _verdict(k, s[k]) if k in TARGETS else ""} for k in KEYS]
    return _section("Headline (`--json` keys)", _table(pd.DataFrame(rows)))


def _ceiling(result: dict) -> list[str]:
    """The best kernel against the theoretical peak, and what to make of a model that beats either."""
    s = summary(result)
    peak = result["theoretical_peak"]
    passes = result.get("best_kernel_passes") or []
    over = max(s["inference_fraction_of_best_kernel"], s["paper_inference_fraction_of_best_kernel"])
    blocks = [
        f"Best kernel: {s['best_kernel_gflops']:.0f} GFLOP/s, the higher of a large fp32 GEMM (torch.mm, "
        f"{s['gemm_gflops']:.0f} GFLOP/s) and a large channels-last 1x1 convolution (oneDNN, "
        f"{s['conv_gflops']:.0f} GFLOP/s). Theoretical peak: {peak['cores']} cores x {peak['lanes']} fp32 lanes x "
        f"{peak['fma_units']} FMA units x 2 FLOPs x {peak['clock_ghz']:.2f} GHz = {peak['gflops']:.0f} GFLOP/s; "
        f"the best kernel reaches {s['best_kernel_gflops'] / peak['gflops']:.0%} of it."
        + (f" The ceiling was measured before and after the models ({', '.join(f'{g:.0f}' for g in passes)} "
           "GFLOP/s); the higher pass is used." if passes else "")]
    if result.get("copy_bandwidth_passes"):
        blocks.append(
            f"Copy bandwidth (read plus write) before and after the models: "
            f"{', '.join(f'{g:.1f}' for g in result['copy_bandwidth_passes'])} GB/s. The network's pools, "
            "concatenations and 1x1 convolutions are bound by memory traffic (notebook 07's roofline) and the "
            "ceiling is not: compare two runs' fractions with their bandwidths beside them.")
    if over > 1:
        blocks.append(
            f"A model runs above the ceiling ({over:.2f} of it): both passes of the ceiling landed in slower spells "
            "of this shared machine than the models did, so read the fractions as upper bounds.")
    if s["best_kernel_gflops"] > peak["gflops"]:
        blocks.append(
            f"The best kernel beats that figure, so the cores ran faster than the clock the operating system "
            f"reports: at least {s['best_kernel_gflops'] / (peak['gflops'] / peak['clock_ghz']):.2f} GHz "
            "(a boost clock), or the lanes and FMA units assumed below are too few.")
    blocks.append("\n".join(f"- {line}" for line in peak["how"]))
    return _section("The ceiling", *blocks)


def _missed_targets(result: dict) -> list[str]:
    missed = where_the_time_goes(result)
    return _section("Where the time goes (missed targets)", "\n".join(missed)) if missed else []


def _inference_throughput(result: dict) -> list[str]:
    macs = result["macs_per_image"]
    return _section(
        "Inference throughput",
        "Multiply-adds per 224x224 image (utils.measuring.profiling): "
        f"torchvision variant {macs['torchvision'] / 1e9:.3f} G, "
        f"paper variant {macs['paper'] / 1e9:.3f} G (1 MAC = 2 FLOPs). torchvision: "
        "`torchvision.models.googlenet(weights=None)`, eval, NCHW, no_grad. fast: "
        "`utils.network.fast.optimize_for_inference` (OpenVINO, see above); PyTorch path: the same with "
        "`engine=\"torch\"` (batch norm folded, channels-last, each convolution and its ReLU one oneDNN call with "
        "weights reordered once per input shape). The fractions of the best kernel in the headline are at batch "
        f"{result.get('fraction_batch', 8)}; the per-layer tables below time the PyTorch path (the engine's graph "
        "has no PyTorch layers to time).",
        _table(result["throughput"]),
        _table(result["speedups"]))


def _repeatability(result: dict) -> list[str]:
    return _section("Layers with identical shapes (repeatability)", _table(result["repeatability"]))


def _branches(result: dict) -> list[str]:
    columns = ["module", "branch", "ms", "macs", "gflops_per_s", "flops_per_byte", "share_of_module_ms",
               "share_of_module_macs"]
    return _section("Per-branch latency vs multiply-adds (torchvision variant, fast path, batch 8)",
                    _table(result["branches"][columns]))


def _layer_kinds(result: dict) -> list[str]:
    return _section("Per-layer kinds (fast path, batch 8)",
                    "torchvision variant:", _table(_by_kind(result["layers"])),
                    "paper variant:", _table(_by_kind(result["layers_paper"])))


def _training(result: dict) -> list[str]:
    return _section("Training", _training_markdown(result["training"]) if result.get("training") else "not measured")


def _photo_model(result: dict) -> list[str]:
    if not result.get("photo_model"):
        return []
    from benchmarks.photo import markdown as photo_markdown

    return _section("The photo model (Imagenette)", photo_markdown(result["photo_model"]))


def _recording(result: dict) -> list[str]:
    ro = result.get("recorder_overhead")
    return _section("Recording activations",
                    f"plain {ro['plain_ms']:.1f} ms, recorded {ro['recorded_ms']:.1f} ms, overhead "
                    f"{100 * ro['overhead']:.1f}%." if ro else "not measured")


def _evaluation(result: dict) -> list[str]:
    if not result.get("evaluation"):
        return []
    from .evaluation import markdown

    return _section("Notebook 05's full evaluation, timed", markdown(result["evaluation"]))


def _command_line(result: dict) -> list[str]:
    if not result.get("cli"):
        return []
    return _section("Command line", _table(pd.DataFrame(result["cli"])))


def _notebooks(result: dict) -> list[str]:
    if not result.get("notebooks"):
        return []
    return _section("Notebooks in quick mode", _table(pd.DataFrame(result["notebooks"])))


def _load_reading(start: float, threads: int) -> str:
    """What the one-minute load at the start says: other work on the cores, or a machine otherwise idle (the
    load at the end counts the benchmark's own threads either way)."""
    if start >= 0.25 * threads:
        return "other work shared the cores, and hit every engine alike only as far as taking turns spreads it."
    return ("the machine was otherwise idle when the measurements began; the load at the end counts the "
            "benchmark's own threads.")


def against_peers_markdown(result: dict) -> list[str]:
    """The section that sets the fast path beside ONNX Runtime and OpenVINO (empty when none was measured)."""
    if "peer_ratios" not in result:
        return []
    versions = ", ".join(f"{e} {v}" for e, v in (result.get("engine_versions") or {}).items()) or "none installed"
    load = result.get("load_average")
    lines = [
        "## Against other engines",
        "",
        "The project's inference path (`optimize_for_inference`: the network exported to ONNX and run by OpenVINO, "
        "float32, compiled once per batch shape, a batch split into slices taken in turn by one single-threaded "
        "stream per core) beside the engines a reader would pick, each with its defaults on the same exported "
        f"graph (batch size free) and the machine's {result['threads']} threads: {versions}. All take turns in "
        f"each round (best of the rounds{_settled(result)}). `project_vs_best_peer` is the best peer's time over "
        "the project's: at 1 or above the project is at least as fast.",
        "",
    ]
    if load:
        lines += [f"Load average (1, 5, 15 min) on this {result['threads']}-core machine at the start and the end "
                  f"of the inference measurements: {', '.join(f'{x:.2f}' for x in load[0])} and "
                  f"{', '.join(f'{x:.2f}' for x in load[-1])}: {_load_reading(load[0][0], result['threads'])}", ""]
    for variant, key in (("torchvision", "peer_ratios"), ("paper", "paper_peer_ratios")):
        lines += [f"{variant} variant, ms per batch:", "", _table(result[key]), ""]
    errors = result.get("output_errors")
    if errors is not None and len(errors):
        worst = errors.groupby("model")["relative_error"].max().reset_index()
        lines += ["Largest relative error of the logits against the plain model, checked before timing "
                  "(largest absolute difference over the largest logit):", "", _table(worst), ""]
    return lines


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
