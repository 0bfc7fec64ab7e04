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

import statistics
import time
from collections.abc import Callable

import pandas as pd
import torch
from torch import nn

BATCH_SIZES = (1, 8, 32)
INPUT_SIZE = 224  # Table 1: 224x224 receptive field


def time_call(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds, after ``warmup`` untimed calls."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """The fp32 GFLOP/s of ``torch.mm`` on two ``size x size`` matrices (best of ``repeats``).

    A large square matrix multiply is the most arithmetic-dense operation a CPU runs, so its
    speed is the practical ceiling for every layer of the network. The best rather than the
    median time is used: the ceiling is what the machine can do, not what it did under load.
    """
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=g), torch.randn(size, size, generator=g)
    torch.mm(a, b)
    best = min(time_call(lambda: torch.mm(a, b), repeats=1, warmup=0) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def memory_bandwidth_gbs(megabytes: int = 256, repeats: int = 5) -> float:
    """Copy bandwidth in GB/s: bytes read plus bytes written by ``dst.copy_(src)`` (best of ``repeats``).

    The slope of the roofline: a layer doing fewer FLOPs per byte than peak / bandwidth cannot
    reach the peak, however good its kernel.
    """
    n = megabytes * 2**20 // 4
    src, dst = torch.ones(n), torch.empty(n)
    dst.copy_(src)
    best = min(time_call(lambda: dst.copy_(src), repeats=1, warmup=0) for _ in range(repeats))
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
        conv(x)
        best = min(time_call(lambda: conv(x), repeats=1, warmup=0) for _ in range(repeats))
    return 2 * 8 * channels * channels * hw * hw / best / 1e9


def _inputs(batch: int, input_size: int = INPUT_SIZE) -> torch.Tensor:
    return torch.randn(batch, 3, input_size, input_size, generator=torch.Generator().manual_seed(batch))


def build_models(variant: str = "torchvision") -> dict[str, nn.Module]:
    """The contenders: torchvision's googlenet as users call it, and this project's model.

    torchvision's model is built with ``weights=None`` in eval mode and called on NCHW input under
    ``no_grad``. The project's model appears plainly (eager, NCHW) and on its fast path
    (:func:`utils.fast.optimize_for_inference`). Random weights: speed does not depend on them.
    """
    import torchvision

    from utils.fast import optimize_for_inference
    from utils.model import googlenet

    torch.manual_seed(0)
    tv = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True).eval()
    ours = googlenet(variant, num_classes=1000, aux_logits=False).eval()
    return {
        "torchvision": tv,
        f"project {variant} (plain)": ours,
        f"project {variant} (fast)": optimize_for_inference(ours),
    }


def throughput(models: dict[str, nn.Module], batch_sizes=BATCH_SIZES, repeats: int = 5,
               warmup: int = 2, progress: bool = True) -> pd.DataFrame:
    """Images per second of each model at each batch size (best of ``repeats`` forward passes).

    At each batch size the models take turns, one forward pass each per round, so that a burst
    of load from other processes is shared between them instead of landing on one. The best
    time, not the median, is kept: on a shared CPU the fastest pass is the one least disturbed
    by other work, which is what a comparison of two models needs.
    """
    from tqdm.auto import tqdm

    rows = []
    for batch in tqdm(batch_sizes, desc="inference", disable=not progress):
        x = _inputs(batch)
        times: dict[str, list[float]] = {name: [] for name in models}
        with torch.no_grad():
            for m in models.values():
                for _ in range(warmup):
                    m(x)
            for _ in range(repeats):
                for name, m in models.items():
                    times[name].append(time_call(lambda m=m, x=x: m(x), repeats=1, warmup=0))
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
    from utils.fast import optimize_for_inference
    from utils.model import googlenet

    torch.manual_seed(0)
    model = googlenet(variant, num_classes=1000, aux_logits=False).eval()
    settings = {
        "plain (NCHW)": model,
        "BN folded, NCHW": optimize_for_inference(model, channels_last=False),
        "channels-last, BN kept": optimize_for_inference(model, fold_bn=False),
        "channels-last + BN folded (fast path)": optimize_for_inference(model),
    }
    x = _inputs(batch, input_size)
    times: dict[str, list[float]] = {k: [] for k in settings}
    with torch.no_grad():
        for m in settings.values():
            m(x)
        for _ in range(repeats):
            for name, m in settings.items():
                times[name].append(time_call(lambda m=m: m(x), repeats=1, warmup=0))
    ms = {k: 1e3 * statistics.median(t) for k, t in times.items()}
    return pd.DataFrame([{"setting": k, "ms_per_batch": v, "speedup_vs_plain": ms["plain (NCHW)"] / v}
                         for k, v in ms.items()])


def network_macs(variant: str = "torchvision") -> int:
    """Multiply-adds of one 224x224 image through the inference network (no auxiliary heads)."""
    from utils import profiling

    return profiling.totals(profiling.layer_costs(variant, INPUT_SIZE))["macs"]


# ----------------------------------------------------------------------------- per-layer timing


def _leaf_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The layers whose time we attribute: each conv block, pool, LRN and the classifier."""
    from utils.model import BasicConv2d

    layers = {}
    for name, m in model.named_modules():
        kinds = BasicConv2d | nn.MaxPool2d | nn.LocalResponseNorm | nn.Linear | nn.AdaptiveAvgPool2d
        if isinstance(m, kinds) and not name.startswith("aux"):
            layers[name] = m
    return layers


def layer_latency(model: nn.Module, batch: int = 8, repeats: int = 3,
                  input_size: int = INPUT_SIZE) -> pd.DataFrame:
    """Time every layer of a GoogLeNet (plain or fast) with forward hooks, at ``batch`` images.

    Each layer's time is the median over ``repeats`` passes of the interval between its forward
    pre-hook and forward hook. Layers run one after another on the CPU, so the intervals are the
    layers' own times (the concatenations of the Inception modules fall between them).

    Returns columns ``name``, ``ms``, ``bytes_moved`` (fp32 input + output + weights, a lower
    bound on memory traffic), ``out_shape``.
    """
    inner = getattr(model, "model", model)  # FastInference wraps the network
    layers = _leaf_layers(inner)
    if not layers:
        raise ValueError("layer_latency needs a GoogLeNet from utils.model (no conv blocks found)")
    starts: dict[str, float] = {}
    times: dict[str, list[float]] = {n: [] for n in layers}
    sizes: dict[str, tuple[int, tuple]] = {}

    def pre(name):
        def hook(module, inputs):
            starts[name] = time.perf_counter()
        return hook

    def post(name):
        def hook(module, inputs, output):
            times[name].append(time.perf_counter() - starts[name])
            weights = sum(p.numel() for p in module.parameters())
            sizes[name] = (4 * (inputs[0].numel() + output.numel() + weights), tuple(output.shape[1:]))
        return hook

    handles = []
    try:
        for name, m in layers.items():
            handles.append(m.register_forward_pre_hook(pre(name)))
            handles.append(m.register_forward_hook(post(name)))
        x = _inputs(batch, input_size)
        with torch.no_grad():
            model(x)  # warm-up
            for t in times.values():
                t.clear()
            for _ in range(repeats):
                model(x)
    finally:
        for h in handles:
            h.remove()
    return pd.DataFrame([{"name": n, "ms": 1e3 * statistics.median(t), "bytes_moved": sizes[n][0],
                          "out_shape": sizes[n][1]} for n, t in times.items() if t])


def layer_roofline(model: nn.Module, variant: str = "torchvision", batch: int = 8,
                   repeats: int = 3, input_size: int = INPUT_SIZE) -> pd.DataFrame:
    """Per-layer time next to MACs: achieved GFLOP/s and arithmetic intensity (FLOPs per byte).

    MACs come from :func:`utils.profiling.layer_costs` (Table 1 arithmetic). A layer far below the
    matmul peak with low FLOPs per byte is memory-bound; pools have no MACs at all and are pure
    memory traffic.
    """
    from utils import profiling

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
    """
    repeats = 3 if quick else 10
    result: dict = {"threads": torch.get_num_threads(), "quick": quick}
    result["matmul_peak_gflops"] = matmul_peak_gflops(2048 if quick else 4096, repeats=3 if quick else 5)
    result["conv_peak_gflops"] = conv_peak_gflops(repeats=3 if quick else 5)
    models = build_models("torchvision")
    if not quick:  # the paper variant is context, not a headline number
        paper = build_models("paper")
        models.update({k: v for k, v in paper.items() if k != "torchvision"})
    tp = throughput(models, BATCH_SIZES, repeats=repeats, warmup=1 if quick else 2, progress=progress)
    result["throughput"] = tp
    macs = {"torchvision": network_macs("torchvision"), "paper": network_macs("paper")}
    result["macs_per_image"] = macs
    tp["gflops_per_s"] = [2 * macs["paper" if "paper" in m else "torchvision"] * ips / 1e9
                          for m, ips in zip(tp["model"], tp["images_per_s"], strict=True)]
    tp["fraction_of_matmul_peak"] = tp["gflops_per_s"] / result["matmul_peak_gflops"]

    def ips(model: str, batch: int) -> float:
        return float(tp[(tp["model"] == model) & (tp["batch"] == batch)]["images_per_s"].iloc[0])

    speedups = pd.DataFrame([{
        "batch": b,
        "fast_vs_torchvision": ips("project torchvision (fast)", b) / ips("torchvision", b),
        "plain_vs_torchvision": ips("project torchvision (plain)", b) / ips("torchvision", b),
        "paper_fast_vs_paper_plain": (ips("project paper (fast)", b) / ips("project paper (plain)", b)
                                      if "project paper (fast)" in models else float("nan")),
    } for b in BATCH_SIZES])
    result["speedups"] = speedups
    at8 = speedups[speedups["batch"] == 8]
    result["inference_speedup_vs_torchvision"] = float(at8["fast_vs_torchvision"].iloc[0])
    fast8 = tp[(tp["model"] == "project torchvision (fast)") & (tp["batch"] == 8)]
    result["gemm_peak_fraction"] = float(fast8["fraction_of_matmul_peak"].iloc[0])
    roof = layer_roofline(models["project torchvision (fast)"], "torchvision", batch=8,
                          repeats=2 if quick else 5)
    result["layers"] = roof
    result["branches"] = branch_latency(roof)
    if not quick:
        result["layers_plain"] = layer_roofline(models["project torchvision (plain)"], "torchvision",
                                                batch=8, repeats=3)
    return result
