"""Figures for the performance chapter: a roofline of GoogLeNet's layers and the engines side by side (notebook 07)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def layer_label(kind: str, kernel: int) -> str:
    """``"conv 1x1"``, ``"conv 3x3"``, ``"maxpool 3x3"``, or the kind itself."""
    return f"{kind} {kernel}x{kernel}" if kind in ("conv", "maxpool") and kernel else kind


def roofline(layers: pd.DataFrame, peak_gflops: float, bandwidth_gbs: float, ax=None):
    """Achieved GFLOP/s against FLOPs per byte, one point per convolution, with the two roofs.

    The flat roof is the best measured kernel (:func:`benchmarks.inference.best_kernel_gflops`); the
    slanted one is bandwidth x intensity. Layers
    without multiply-adds (pools) have no place on the log axes and are listed in the title by
    their share of the time instead.

    Args:
        layers: :func:`benchmarks.inference.layer_roofline` output.
        peak_gflops: the best measured kernel (GFLOP/s). bandwidth_gbs: measured copy bandwidth (GB/s).
        ax: a matplotlib axes to draw on; a new figure when ``None``.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    if peak_gflops <= 0 or bandwidth_gbs <= 0:
        raise ValueError(f"peak ({peak_gflops}) and bandwidth ({bandwidth_gbs}) must be positive measurements")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=90)
        plt.close(fig)  # shown once, as the returned value, not again by the inline backend
    df = layers[layers["macs"] > 0].copy()
    df["label"] = [layer_label(k, kern) for k, kern in zip(df["kind"], df["kernel"], strict=True)]
    for label, g in df.groupby("label"):
        ax.scatter(g["flops_per_byte"], g["gflops_per_s"], s=18, label=label, alpha=0.8)
    lo = max(float(df["flops_per_byte"].min()) / 2, 0.1)
    hi = float(df["flops_per_byte"].max()) * 2
    x = np.geomspace(lo, hi, 100)
    ax.plot(x, np.minimum(peak_gflops, bandwidth_gbs * x), "k--", lw=1,
            label=f"roof: {peak_gflops:.0f} GFLOP/s, {bandwidth_gbs:.0f} GB/s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOPs per byte moved)")
    ax.set_ylabel("achieved GFLOP/s")
    pools = layers[layers["macs"] == 0]["ms"].sum() / layers["ms"].sum()
    ax.set_title(f"layers with no multiply-adds (pools): {100 * pools:.0f}% of the time", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return ax.figure


def engines_figure(peer_ms: dict[str, dict[str, dict]], ax=None):
    """Milliseconds per batch of every engine at every batch size, one panel per variant.

    Args:
        peer_ms: variant -> engine -> batch -> ms (the report's ``peer_ms`` and ``paper_peer_ms``);
            the engine ``"project"`` is the project's inference path.
        ax: a sequence of matplotlib axes, one per variant; a new figure when ``None``.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    if not peer_ms:
        raise ValueError("no engine timings to draw: run `python -m benchmarks` with onnxruntime or openvino installed")
    if ax is None:
        fig, ax = plt.subplots(1, len(peer_ms), figsize=(5 * len(peer_ms), 3.6), squeeze=False)
        ax = ax[0]
    fig = ax[0].figure
    for a, (variant, engines) in zip(ax, peer_ms.items(), strict=True):
        batches = sorted({int(b) for ms in engines.values() for b in ms})
        width = 0.8 / len(engines)
        for i, (engine, ms) in enumerate(engines.items()):
            per_image = [ms.get(str(b), ms.get(b, np.nan)) / b for b in batches]
            a.bar(np.arange(len(batches)) + i * width, per_image, width, label=engine)
        a.set_xticks(np.arange(len(batches)) + 0.4 - width / 2, [f"batch {b}" for b in batches])
        a.set_ylabel("ms per image")
        a.set_title(f"{variant} variant")
        a.set_ylim(0, a.get_ylim()[1] * 1.2)  # room for the legend above the bars
        a.legend(fontsize="small", ncol=len(engines), loc="upper center")
    fig.tight_layout()
    return fig
