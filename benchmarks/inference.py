"""Inference speed of GoogLeNet on a CPU, measured against the machine's own matrix-multiply peak.

§1 and §5 of the paper set GoogLeNet a budget of about 1.5 billion multiply-adds per image so that
it would be usable in practice. Whether a CPU reaches that arithmetic's speed depends on the
layers: large 3x3 and 5x5 convolutions are matrix multiplies in disguise, while the 1x1
reductions on small maps, the max pools and the concatenations of the Inception module (§4)
move more bytes per multiply-add and are limited by memory bandwidth instead.

Every ratio here compares two measurements taken in the same process, one after the other,
so that load from other processes affects both alike. One MAC is two FLOPs.
"""

from __future__ import annotations

import os
import statistics

import pandas as pd
import torch
from torch import nn

from utils.measuring.timing import interleaved, time_call

BATCH_SIZES = (1, 8, 32)
QUICK_BATCH_SIZES = (1, 8)
# untimed running of each model just before its timed pass: long enough for a batch-1 pass to run
# several times (8-15 ms each here), so that the previous model's spinning threads have gone quiet
SETTLE_S = 0.05
MAX_RELATIVE_ERROR = 1e-5  # the project's engine against the plain model's logits
INPUT_SIZE = 224  # Table 1: 224x224 receptive field


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """The fp32 GFLOP/s of ``torch.mm`` on two ``size x size`` matrices (best of ``repeats``).

    A large square matrix multiply is the most arithmetic-dense operation a CPU runs, so its
    speed is the practical ceiling for every layer of the network. The best rather than the
    median time is used: the ceiling is what the machine can do, not what it did under load.
    """
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=g), torch.randn(size, size, generator=g)
    best = time_call(lambda: torch.mm(a, b), repeats=repeats, warmup=1, stat=min)
    return 2 * size**3 / best / 1e9


def memory_bandwidth_gbs(megabytes: int = 256, repeats: int = 5) -> float:
    """Copy bandwidth in GB/s: bytes read plus bytes written by ``dst.copy_(src)`` (best of ``repeats``).

    The slope of the roofline: a layer doing fewer FLOPs per byte than peak / bandwidth cannot
    reach the peak, however good its kernel.
    """
    n = megabytes * 2**20 // 4
    src, dst = torch.ones(n), torch.empty(n)
    best = time_call(lambda: dst.copy_(src), repeats=repeats, warmup=1, stat=min)
    return 2 * 4 * n / best / 1e9


def conv_peak_gflops(channels: int = 1024, hw: int = 28, repeats: int = 5) -> float:
    """The fp32 GFLOP/s of one large 1x1 convolution in channels-last layout (oneDNN's GEMM).

    Reported beside :func:`matmul_peak_gflops` because ``torch.mm`` and the convolutions may use
    different libraries (MKL and oneDNN) that do not reach the same speed on every CPU.
    """
    g = torch.Generator().manual_seed(0)
    conv = nn.Conv2d(channels, channels, 1, bias=False).eval().to(memory_format=torch.channels_last)
    x = torch.randn(8, channels, hw, hw, generator=g).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        best = time_call(lambda: conv(x), repeats=repeats, warmup=1, stat=min)
    return 2 * 8 * channels * channels * hw * hw / best / 1e9


def best_kernel_gflops(quick: bool = False) -> dict[str, float]:
    """The fastest fp32 arithmetic this machine reaches in PyTorch: the higher of a large GEMM
    (``torch.mm``, MKL) and a large channels-last 1x1 convolution (oneDNN).

    Returns ``gemm``, ``conv`` and ``best`` in GFLOP/s. This is the practical ceiling for every
    layer; the theoretical one (:func:`benchmarks.machine.theoretical_peak`) sits above it.
    """
    gemm = matmul_peak_gflops(2048 if quick else 4096, repeats=3 if quick else 5)
    conv = conv_peak_gflops(repeats=3 if quick else 5)
    return {"gemm": gemm, "conv": conv, "best": max(gemm, conv)}


def _inputs(batch: int, input_size: int = INPUT_SIZE) -> torch.Tensor:
    return torch.randn(batch, 3, input_size, input_size, generator=torch.Generator().manual_seed(batch))


def build_models(variant: str = "torchvision") -> dict[str, nn.Module]:
    """The contenders: torchvision's googlenet as users call it, and this project's model.

    torchvision's model is built with ``weights=None`` in eval mode and called on NCHW input under
    ``no_grad``. The project's model appears plainly (eager, NCHW) and on its fast path
    (:func:`utils.network.fast.optimize_for_inference`: its default engine, and its PyTorch path alone).
    Random weights: speed does not depend on them.
    """
    import torchvision

    from utils.network.fast import optimize_for_inference
    from utils.network.model import googlenet

    with torch.random.fork_rng(devices=[]):  # seed-0 weights; the caller's random state is left alone
        torch.manual_seed(0)
        tv = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True).eval()
        ours = googlenet(variant, num_classes=1000, aux_logits=False).eval()
    return {
        "torchvision": tv,
        f"project {variant} (plain)": ours,
        f"project {variant} (fast)": optimize_for_inference(ours),
        f"project {variant} (PyTorch path)": optimize_for_inference(ours, engine="torch"),
    }


def throughput(models: dict[str, nn.Module], batch_sizes=BATCH_SIZES, repeats: int = 5,
               warmup: int = 2, settle: float = SETTLE_S, progress: bool = True) -> pd.DataFrame:
    """Images per second of each model at each batch size (best of ``repeats`` forward passes).

    At each batch size the models take turns, so that a burst of load from other processes is
    shared between them instead of landing on one. Each turn first runs the model untimed for
    ``settle`` seconds (at least one pass): the engines keep thread pools that spin for a while after
    a call, and without the settle each model would be timed while its predecessor's threads still
    held the cores (:func:`utils.measuring.timing.interleaved`). The best time, not the median, is
    kept: on a shared CPU the fastest pass is the one least disturbed by other work, which is what a
    comparison of two models needs.
    """
    from tqdm.auto import tqdm

    rows = []
    for batch in tqdm(batch_sizes, desc="inference", disable=not progress):
        x = _inputs(batch)
        with torch.no_grad():
            times = interleaved({name: (lambda m=m, x=x: m(x)) for name, m in models.items()},
                                repeats=repeats, warmup=warmup, settle=settle)
        for name, t in times.items():
            seconds = min(t)
            rows.append({"model": name, "batch": batch, "ms_per_batch": 1e3 * seconds,
                         "images_per_s": batch / seconds})
    return pd.DataFrame(rows)


def memory_format_comparison(variant: str = "torchvision", batch: int = 8, repeats: int = 5,
                             input_size: int = INPUT_SIZE) -> pd.DataFrame:
    """What each step of the fast path buys: NCHW vs channels-last, with and without BN folding.

    Returns columns ``setting``, ``ms_per_batch``, ``speedup_vs_plain`` (the models take turns,
    as in :func:`throughput`).
    """
    from utils.network.fast import FastInference, optimize_for_inference
    from utils.network.model import googlenet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = googlenet(variant, num_classes=1000, aux_logits=False).eval()
    settings = {
        "plain (NCHW)": model,
        "BN folded, NCHW": optimize_for_inference(model, engine="torch", channels_last=False),
        "channels-last, BN kept": optimize_for_inference(model, engine="torch", fold_bn=False, fuse_relu=False),
        "channels-last + BN folded": optimize_for_inference(model, engine="torch", fuse_relu=False),
        "+ conv and ReLU fused, weights reordered once (PyTorch path)": optimize_for_inference(model, engine="torch"),
    }
    fast = optimize_for_inference(model)
    if not isinstance(fast, FastInference):  # the default engine, where it is installed
        settings["exported to ONNX, run by OpenVINO (fast path)"] = fast
    x = _inputs(batch, input_size)
    with torch.no_grad():
        times = interleaved({name: (lambda m=m: m(x)) for name, m in settings.items()}, repeats=repeats)
    ms = {k: 1e3 * statistics.median(t) for k, t in times.items()}
    return pd.DataFrame([{"setting": k, "ms_per_batch": v, "speedup_vs_plain": ms["plain (NCHW)"] / v}
                         for k, v in ms.items()])


def network_macs(variant: str = "torchvision") -> int:
    """Multiply-adds of one 224x224 image through the inference network (no auxiliary heads)."""
    from utils.measuring import profiling

    return profiling.totals(profiling.layer_costs(variant, INPUT_SIZE))["macs"]


def _load() -> tuple[float, float, float]:
    """The system's load average over 1, 5 and 15 minutes (NaN where the OS does not say)."""
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return (float("nan"),) * 3


def output_errors(models: dict, plain: dict[str, nn.Module], batches=BATCH_SIZES) -> pd.DataFrame:
    """Each model's largest relative error against its variant's plain model, at each batch, before any timing.

    A model named ``project <variant> ...`` or ``<engine> <variant>`` is compared with ``plain[variant]``
    (torchvision's own model, whose weights differ, is left out). Raises when the project's inference path
    is off by more than :data:`MAX_RELATIVE_ERROR`: a fast wrong answer is not worth timing.

    Returns columns ``model``, ``batch``, ``relative_error``.
    """
    from .peers import relative_error

    rows = []
    for batch in batches:
        x = _inputs(batch)
        with torch.no_grad():
            reference = {v: m(x) for v, m in plain.items()}
            for name, model in models.items():
                variant = next((v for v in plain if f" {v}" in f" {name} "), None)
                if variant is None or name == "torchvision" or name.endswith("(plain)"):
                    continue
                rows.append({"model": name, "batch": batch,
                             "relative_error": relative_error(model(x), reference[variant])})
    errors = pd.DataFrame(rows)
    bad = errors[errors["model"].str.startswith("project") & (errors["relative_error"] > MAX_RELATIVE_ERROR)]
    if len(bad):
        raise ValueError(f"the inference path's logits differ from the plain model's beyond {MAX_RELATIVE_ERROR}:\n"
                         f"{bad.to_string(index=False)}")
    return errors


def against_peers(tp: pd.DataFrame, variant: str, batches=BATCH_SIZES) -> tuple[dict, pd.DataFrame]:
    """The project's inference path against every peer engine in ``tp`` (:func:`throughput`'s table).

    Returns:
        ``engine -> batch -> ms`` (the project under ``"project"``) and one row per batch: each engine's
        ms, ``best_peer`` and ``project_vs_best_peer`` (the best peer's time over the project's: above 1,
        the project is faster).
    """
    from .peers import PEERS

    def ms(model: str, batch: int) -> float | None:
        hit = tp[(tp["model"] == model) & (tp["batch"] == batch)]["ms_per_batch"]
        return float(hit.iloc[0]) if len(hit) else None

    table: dict[str, dict[int, float]] = {"project": {}}
    rows = []
    for batch in batches:
        project = ms(f"project {variant} (fast)", batch)
        peers = {e: t for e in PEERS if (t := ms(f"{e} {variant}", batch)) is not None}
        if project is None or not peers:
            continue
        table["project"][batch] = project
        for engine, t in peers.items():
            table.setdefault(engine, {})[batch] = t
        best = min(peers, key=peers.get)
        rows.append({"batch": batch, "project_ms": project, **{f"{e}_ms": t for e, t in peers.items()},
                     "best_peer": best, "project_vs_best_peer": peers[best] / project})
    return table, pd.DataFrame(rows)


# ----------------------------------------------------------------------------- per-layer timing


def _leaf_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The layers whose time we attribute: each conv block, pool, LRN and the classifier."""
    from utils.network.fast import ConvReLU
    from utils.network.lrn import LocalResponseNorm
    from utils.network.model import BasicConv2d

    kinds = (BasicConv2d | ConvReLU | nn.MaxPool2d | LocalResponseNorm | nn.LocalResponseNorm | nn.Linear
             | nn.AdaptiveAvgPool2d)
    return {name: m for name, m in model.named_modules() if isinstance(m, kinds) and not name.startswith("aux")}


def _layer_inputs(model: nn.Module, layers: dict[str, nn.Module], x: torch.Tensor) -> dict[str, tuple]:
    """What each layer receives in one forward pass of ``x`` (kept, to replay the layer alone)."""
    got: dict[str, tuple] = {}
    handles = [m.register_forward_pre_hook(lambda mod, args, name=name: got.__setitem__(name, args))
               for name, m in layers.items()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return got


def layer_latency(model: nn.Module, batch: int = 8, repeats: int = 5, input_size: int = INPUT_SIZE,
                  warmup: int = 2) -> pd.DataFrame:
    """Time every layer of a GoogLeNet (plain or fast) on its own, at ``batch`` images.

    One forward pass records what each layer receives, in the layout the network gives it
    (channels-last on the fast path). Then the layers are replayed alone: ``warmup`` untimed
    rounds, and ``repeats`` rounds in which every layer runs once in turn
    (:func:`utils.measuring.timing.interleaved`), so that load from other processes spreads over all of
    them. A layer's time is its median. Timed alone a layer finds its weights in cache as it would
    in a loop over batches, and two layers with identical shapes get the same time: the numbers
    are repeatable (:func:`repeatability`).

    Returns columns ``name``, ``ms``, ``bytes_moved`` (fp32 input + output + weights, a lower
    bound on memory traffic), ``out_shape``.
    """
    inner = getattr(model, "model", model)  # FastInference wraps the network
    layers = _leaf_layers(inner)
    if not layers:
        raise ValueError("layer_latency needs a GoogLeNet from utils.network.model (no conv blocks found)")
    inputs = _layer_inputs(model, layers, _inputs(batch, input_size))
    layers = {n: m for n, m in layers.items() if n in inputs}
    with torch.no_grad():
        outputs = {n: m(*inputs[n]) for n, m in layers.items()}
        times = interleaved({n: (lambda m=m, a=inputs[n]: m(*a)) for n, m in layers.items()},
                            repeats=repeats, warmup=warmup)
    rows = []
    for n, m in layers.items():
        weights = sum(p.numel() for p in m.parameters())
        out = outputs[n]
        rows.append({"name": n, "ms": 1e3 * statistics.median(times[n]),
                     "bytes_moved": 4 * (inputs[n][0].numel() + out.numel() + weights),
                     "out_shape": tuple(out.shape[1:])})
    return pd.DataFrame(rows)


def repeatability(layers: pd.DataFrame, variant: str = "torchvision", input_size: int = INPUT_SIZE) -> pd.DataFrame:
    """Layers with identical shapes and multiply-adds, and the spread of their timings.

    Layers are grouped by their :class:`utils.network.arch.LayerSpec` (kind, kernel, stride, padding,
    channels, map size); e.g. ``inception4b.branch3.1`` and ``inception4c.branch3.1`` are both a
    24 -> 64 convolution on a 14x14 map. Identical work should take identical time.

    Returns:
        One row per group of two or more: ``layers``, ``kind``, ``min_ms``, ``max_ms`` and ``ratio``
        (max / min), the largest ratio first.
    """
    from utils.network import arch

    specs = {s.name: s for s in arch.layer_specs(variant, input_size)}
    ms = dict(zip(layers["name"], layers["ms"], strict=True))
    groups: dict[tuple, list[str]] = {}
    for name, spec in specs.items():
        if name in ms:
            key = (spec.kind, spec.kernel, spec.stride, spec.padding, spec.in_channels, spec.out_channels,
                   spec.in_size)
            groups.setdefault(key, []).append(name)
    rows = [{"layers": ", ".join(names), "kind": f"{key[0]} {key[1]}x{key[1]}",
             "min_ms": min(ms[n] for n in names), "max_ms": max(ms[n] for n in names)}
            for key, names in groups.items() if len(names) > 1]
    df = pd.DataFrame(rows, columns=["layers", "kind", "min_ms", "max_ms"])
    df["ratio"] = df["max_ms"] / df["min_ms"]
    return df.sort_values("ratio", ascending=False, ignore_index=True)


def layer_roofline(model: nn.Module, variant: str = "torchvision", batch: int = 8,
                   repeats: int = 5, input_size: int = INPUT_SIZE) -> pd.DataFrame:
    """Per-layer time next to MACs: achieved GFLOP/s and arithmetic intensity (FLOPs per byte).

    MACs come from :func:`utils.measuring.profiling.layer_costs` (Table 1 arithmetic). A layer far below the
    matmul peak with low FLOPs per byte is memory-bound; pools have no MACs at all and are pure
    memory traffic.
    """
    from utils.measuring import profiling

    costs = {c.name: c for c in profiling.layer_costs(variant, input_size)}
    df = layer_latency(model, batch=batch, repeats=repeats, input_size=input_size)
    df["row"] = [costs[n].row if n in costs else n.split(".")[0] for n in df["name"]]
    df["kind"] = [costs[n].kind if n in costs else "other" for n in df["name"]]
    df["kernel"] = [costs[n].kernel if n in costs else 0 for n in df["name"]]
    df["branch"] = [costs[n].branch if n in costs else None for n in df["name"]]
    df["macs"] = [batch * costs[n].macs if n in costs else 0 for n in df["name"]]
    seconds = df["ms"] / 1e3
    df["gflops_per_s"] = 2 * df["macs"] / seconds / 1e9
    df["flops_per_byte"] = 2 * df["macs"] / df["bytes_moved"]
    return df


def branch_latency(roofline: pd.DataFrame) -> pd.DataFrame:
    """Sum :func:`layer_roofline` over the branches of each Inception module (§4, Figure 2(b)).

    Columns: ``module``, ``branch``, ``ms``, ``macs``, ``gflops_per_s``, ``share_of_module_ms``,
    ``share_of_module_macs``.
    """
    inc = roofline[roofline["branch"].notna()]
    g = inc.groupby(["row", "branch"], sort=False)[["ms", "macs", "bytes_moved"]].sum().reset_index()
    g = g.rename(columns={"row": "module"})
    g["gflops_per_s"] = 2 * g["macs"] / (g["ms"] / 1e3) / 1e9
    g["flops_per_byte"] = 2 * g["macs"] / g["bytes_moved"]
    tot = g.groupby("module")[["ms", "macs"]].transform("sum")
    g["share_of_module_ms"] = g["ms"] / tot["ms"]
    g["share_of_module_macs"] = g["macs"] / tot["macs"]
    return g


def run(quick: bool = False, progress: bool = True) -> dict:
    """Every inference measurement of the report, in one process.

    Returns a dict of DataFrames and numbers; see :mod:`benchmarks.report` for how it is shown.
    Quick mode times batches 1 and 8 only, with fewer repeats, and leaves out the plain paper network.
    The steps, in order: the ceiling, the contenders and their outputs, their throughput between two
    passes of the ceiling, the ratios the report heads with, and the layers one by one.
    """
    from .machine import theoretical_peak
    from .peers import Peer

    batches = QUICK_BATCH_SIZES if quick else BATCH_SIZES
    result: dict = {"threads": torch.get_num_threads(), "quick": quick, "settle_s": SETTLE_S,
                    "theoretical_peak": theoretical_peak(), "load_average": [_load()]}
    kernels = best_kernel_gflops(quick)
    _set_ceiling(result, kernels)
    models, plain = contenders(quick)
    result["engine_versions"] = {m.engine: m.version for m in models.values() if isinstance(m, Peer)}
    result["output_errors"] = output_errors(models, plain, (1, 8) if quick else batches)
    tp = _timed(result, models, batches, quick, progress)
    # the ceiling again, after the models: on a shared machine one pass can land in a slow spell, and a
    # ceiling measured low would put the models above it; the higher of the two passes is the ceiling
    again = best_kernel_gflops(quick)
    result["best_kernel_passes"] = [kernels["best"], again["best"]]
    _set_ceiling(result, {k: max(kernels[k], again[k]) for k in kernels})
    _ratios(result, tp, batches, with_paper_plain="project paper (plain)" in models)
    _layers(result, models, tp, quick)
    return result


def contenders(quick: bool = False) -> tuple[dict[str, nn.Module], dict[str, nn.Module]]:
    """``(models, plain)``: every model the report times, by name, and each variant's plain network (the
    reference their outputs are compared with). Both variants' fast and PyTorch paths, torchvision's
    model, the plain torchvision variant (and the plain paper variant, not in quick mode), and every
    installed peer engine (:mod:`benchmarks.peers`) on each variant's export."""
    from . import peers as peer_engines

    models = build_models("torchvision")
    paper = build_models("paper")
    models["project paper (fast)"] = paper["project paper (fast)"]
    models["project paper (PyTorch path)"] = paper["project paper (PyTorch path)"]
    if not quick:
        models["project paper (plain)"] = paper["project paper (plain)"]
    plain = {"torchvision": models["project torchvision (plain)"], "paper": paper["project paper (plain)"]}
    for variant, network in plain.items():
        for engine, peer in peer_engines.build(network).items():
            models[f"{engine} {variant}"] = peer
    return models, plain


def _set_ceiling(result: dict, kernels: dict[str, float]) -> None:
    result.update(matmul_peak_gflops=kernels["gemm"], conv_peak_gflops=kernels["conv"],
                  best_kernel_gflops=kernels["best"])


def _timed(result: dict, models: dict[str, nn.Module], batches, quick: bool, progress: bool) -> pd.DataFrame:
    """The throughput table (:func:`throughput`), with the load average and the copy bandwidth around it."""
    copy_mb = 64 if quick else 256
    bandwidth_before = memory_bandwidth_gbs(copy_mb, repeats=3)
    tp = throughput(models, batches, repeats=3 if quick else 10, warmup=1 if quick else 2, progress=progress)
    result["throughput"] = tp
    result["load_average"].append(_load())
    # the memory system's speed around the models: the network's pools, concatenations and 1x1
    # convolutions are bound by it, the ceiling is not, so it is what two runs' fractions differ by
    result["copy_bandwidth_passes"] = [bandwidth_before, memory_bandwidth_gbs(copy_mb, repeats=3)]
    return tp


def _images_per_s(tp: pd.DataFrame, model: str, batch: int) -> float:
    return float(tp[(tp["model"] == model) & (tp["batch"] == batch)]["images_per_s"].iloc[0])


def _ratios(result: dict, tp: pd.DataFrame, batches, with_paper_plain: bool) -> None:
    """GFLOP/s and the fraction of the ceiling per row of ``tp``; the speedups over torchvision's model and
    the plain network; the comparison with the peer engines (:func:`against_peers`)."""
    macs = {"torchvision": network_macs("torchvision"), "paper": network_macs("paper")}
    result["macs_per_image"] = macs
    tp["gflops_per_s"] = [2 * macs["paper" if "paper" in m else "torchvision"] * ips / 1e9
                          for m, ips in zip(tp["model"], tp["images_per_s"], strict=True)]
    tp["fraction_of_best_kernel"] = tp["gflops_per_s"] / result["best_kernel_gflops"]

    def ips(model: str, batch: int) -> float:
        return _images_per_s(tp, model, batch)

    def fraction(model: str) -> float:  # at the largest batch, where the engines come closest to the ceiling
        return float(tp[(tp["model"] == model) & (tp["batch"] == max(batches))]["fraction_of_best_kernel"].iloc[0])

    speedups = pd.DataFrame([{
        "batch": b,
        "fast_vs_torchvision": ips("project torchvision (fast)", b) / ips("torchvision", b),
        "plain_vs_torchvision": ips("project torchvision (plain)", b) / ips("torchvision", b),
        "paper_fast_vs_paper_plain": (ips("project paper (fast)", b) / ips("project paper (plain)", b)
                                      if with_paper_plain else float("nan")),
    } for b in batches])
    result["speedups"] = speedups
    result["inference_speedup_vs_torchvision"] = float(
        speedups[speedups["batch"] == 8]["fast_vs_torchvision"].iloc[0])
    result["fraction_batch"] = max(batches)
    result["inference_fraction_of_best_kernel"] = fraction("project torchvision (fast)")
    result["paper_inference_fraction_of_best_kernel"] = fraction("project paper (fast)")
    for variant, prefix in (("torchvision", ""), ("paper", "paper_")):
        ms, ratios = against_peers(tp, variant, batches)
        result[f"{prefix}peer_ms"] = ms
        result[f"{prefix}peer_ratios"] = ratios
        result[f"{prefix}inference_speedup_vs_best_peer"] = (
            float(ratios["project_vs_best_peer"].min()) if len(ratios) else float("nan"))


def _layers(result: dict, models: dict[str, nn.Module], tp: pd.DataFrame, quick: bool) -> None:
    """Every layer timed alone at batch 8 (both variants), grouped by branch, and the repeatability of
    layers that Table 1 makes identical. The layers are timed on the PyTorch path: the engine's graph
    has no PyTorch layers to time."""
    layer_repeats = 5 if quick else 9
    roof = layer_roofline(models["project torchvision (PyTorch path)"], "torchvision", batch=8,
                          repeats=layer_repeats)
    result["layers"] = roof
    result["branches"] = branch_latency(roof)
    rep = repeatability(roof, "torchvision")
    result["repeatability"] = rep
    result["per_layer_repeatability"] = float(rep["ratio"].max())
    # how much of a whole forward pass the layers timed alone account for (the rest: concatenations,
    # and what a layer costs when its input is not in cache)
    forward_ms = 1e3 / _images_per_s(tp, "project torchvision (PyTorch path)", 8) * 8
    result["layer_sum_over_forward"] = float(roof["ms"].sum() / forward_ms)
    result["layers_paper"] = layer_roofline(models["project paper (PyTorch path)"], "paper", batch=8,
                                            repeats=layer_repeats)
