"""Figures for the companion. Matplotlib lives here and nowhere else.

Every function takes plain data (NumPy arrays, tensors, DataFrames) and an optional ``ax`` or
``fig`` to draw into, and returns the figure. Nothing here builds or runs a model.

Figures are made with :class:`matplotlib.figure.Figure`, not through pyplot: pyplot would keep every
figure open and a notebook would show each one twice (once when the cell ends, once as its value).
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

# One colour per Inception branch (Figure 2(b)), used by every branch figure so they read together.
BRANCH_COLOURS = {"branch1": "#4C72B0", "branch2": "#DD8452", "branch3": "#55A868", "branch4": "#C44E52"}
BRANCH_TITLES = {"branch1": "1x1", "branch2": "3x3", "branch3": "5x5", "branch4": "pool proj"}


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _branch_title(branch: str, branch3_label: str = "5x5") -> str:
    label = branch3_label if branch == "branch3" else BRANCH_TITLES.get(branch, branch)
    return f"{branch} ({label})"


def figure(width: float, height: float, dpi: int = 80) -> Figure:
    """A new figure that pyplot does not track (see the module docstring)."""
    return Figure(figsize=(width, height), dpi=dpi)


def feature_grid(maps, channels=None, ncols: int = 8, title: str = "", fig=None, cmap: str = "viridis"):
    """A grid of feature maps, one small image per channel.

    Args:
        maps: one image's activations, shape (C, H, W).
        channels: channel indices to show (default: all, at most 64).
        ncols: images per row.
    """
    maps = _np(maps)
    if maps.ndim != 3:
        raise ValueError(f"expected feature maps of shape (C, H, W), got {maps.shape}")
    channels = list(range(min(len(maps), 64))) if channels is None else [int(c) for c in channels]
    if not channels:
        raise ValueError("no channels to draw; pass at least one channel index")
    ncols = max(1, min(ncols, len(channels)))
    nrows = math.ceil(len(channels) / ncols)
    fig = fig or Figure(figsize=(1.1 * ncols, 1.1 * nrows + (0.4 if title else 0)), dpi=80)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, c in zip(axes.flat, channels, strict=False):
        ax.imshow(maps[c], cmap=cmap)
        ax.set_title(str(c), fontsize=7, pad=1)
    for ax in axes.flat:
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def module_branches(branch_maps: dict, k: int = 8, ncols: int = 2, module: str = "", branch3_label: str = "5x5",
                    fig=None, cmap: str = "viridis"):
    """The four branches of one Inception module side by side, each as its ``k`` strongest channels.

    Channels are ranked by mean activation over the map, so each panel shows what that branch
    responds to most in this image.

    Args:
        branch_maps: ``{"branch1": (C1, H, W), ..., "branch4": (C4, H, W)}`` for one image.
        k: channels per branch.
        ncols: columns of channels inside each branch's block.
    """
    branches = list(branch_maps)
    nrows = math.ceil(k / ncols)
    fig = fig or Figure(figsize=(1.2 * ncols * len(branches) + 0.4, 1.2 * nrows + 0.6), dpi=80)
    subfigs = np.atleast_1d(fig.subfigures(1, len(branches), wspace=0.02))
    for sub, b in zip(subfigs, branches, strict=True):
        maps = _np(branch_maps[b])
        top = np.argsort(-maps.mean(axis=(1, 2)), kind="stable")[:k]
        axes = sub.subplots(nrows, ncols, squeeze=False)
        for ax, c in zip(axes.flat, top, strict=False):
            ax.imshow(maps[c], cmap=cmap)
            ax.set_title(str(c), fontsize=7, pad=1)
        for ax in axes.flat:
            ax.set_axis_off()
        sub.suptitle(_branch_title(b, branch3_label), fontsize=9, color=BRANCH_COLOURS.get(b, "k"))
    if module:
        fig.suptitle(f"{module}: top {k} channels of each branch by mean activation", fontsize=10, y=1.02)
    return fig


def branch_mean_overlay(image, mean_maps: dict, branch3_label: str = "5x5", fig=None, alpha: float = 0.55):
    """Each branch's channel-mean activation map, upsampled and laid over the image.

    Args:
        image: (H, W, 3) or (H, W) floats in [0, 1].
        mean_maps: ``{"branch1": (h, w), ...}``: activation averaged over a branch's channels.
    """
    image = _np(image)
    fig = fig or Figure(figsize=(2.0 * (len(mean_maps) + 1), 2.3), dpi=80)
    axes = fig.subplots(1, len(mean_maps) + 1, squeeze=False)[0]
    h, w = image.shape[:2]
    axes[0].imshow(image, cmap="gray" if image.ndim == 2 else None)
    axes[0].set_title("image", fontsize=9)
    for ax, (b, m) in zip(axes[1:], mean_maps.items(), strict=True):
        m = _np(m)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        # extent stretches the coarse map over the whole image: each cell covers one stride-sized patch
        ax.imshow(m, cmap="magma", alpha=alpha, extent=(0, w, h, 0), interpolation="bilinear")
        ax.set_title(_branch_title(b, branch3_label), fontsize=9, color=BRANCH_COLOURS.get(b, "k"))
    for ax in axes:
        ax.set_axis_off()
    return fig


def energy_vs_macs(shares, ax=None, branch3_label: str = "5x5"):
    """Each branch's share of activation energy beside its share of multiply-adds, per module.

    Args:
        shares: DataFrame with columns ``module``, ``branch``, ``energy_share``, ``macs_share``
            (shares sum to 1 within each module).
    """
    if ax is None:
        ax = Figure(figsize=(9, 3.6), dpi=80).subplots()
    modules = list(dict.fromkeys(shares["module"]))
    branches = list(dict.fromkeys(shares["branch"]))
    x = np.arange(len(modules))
    width = 0.38
    for offset, column, hatch in ((-width / 2, "energy_share", ""), (width / 2, "macs_share", "//")):
        bottom = np.zeros(len(modules))
        for b in branches:
            part = shares[shares["branch"] == b].set_index("module").reindex(modules)[column].to_numpy()
            ax.bar(x + offset, part, width, bottom=bottom, color=BRANCH_COLOURS.get(b), hatch=hatch,
                   edgecolor="white", linewidth=0.5,
                   label=_branch_title(b, branch3_label) if column == "energy_share" else None)
            bottom += part
    ax.set_xticks(x, [m.replace("inception", "") for m in modules])
    ax.set_xlabel("Inception module (left bar: activation energy, right hatched bar: multiply-adds)")
    ax.set_ylabel("share within module")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, 1.15), frameon=False)
    return ax.figure


def score_heatmap(table, ax=None, title: str = "", fmt: str = "{:.2f}", cmap: str = "viridis"):
    """A module x branch table of scores (rows: modules, columns: branches) as an annotated heatmap."""
    if ax is None:
        ax = Figure(figsize=(4.2, 3.6), dpi=80).subplots()
    values = table.to_numpy(dtype=float)
    im = ax.imshow(values, cmap=cmap, aspect="auto")
    ax.set_xticks(range(values.shape[1]), [str(c) for c in table.columns], fontsize=8)
    ax.set_yticks(range(values.shape[0]), [str(i) for i in table.index], fontsize=8)
    mid = np.nanmean(values)
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7,
                color="white" if v < mid else "black")
    ax.figure.colorbar(im, ax=ax, fraction=0.05)
    if title:
        ax.set_title(title, fontsize=9)
    return ax.figure


def image_grid(images, titles=None, ncols: int = 6, size: float = 1.3, title: str = "", fig=None):
    """Small images in a grid: (N, H, W, 3) or (N, H, W) floats in [0, 1]."""
    images = [_np(im) for im in images]
    if not images:
        raise ValueError("no images to draw")
    ncols = max(1, min(ncols, len(images)))
    nrows = math.ceil(len(images) / ncols)
    fig = fig or Figure(figsize=(size * ncols, size * nrows + (0.4 if title else 0.1)), dpi=80)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(np.clip(images[i], 0, 1), cmap="gray" if images[i].ndim == 2 else None, vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=7, pad=1)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def _map_norm(panels):
    """One colour scale for every map of a figure, so a single colour bar reads them all."""
    from matplotlib.colors import Normalize

    top = max(float(_np(maps)[list(chs)].max()) if len(chs) else 0.0 for maps, chs in panels.values())
    return Normalize(vmin=0.0, vmax=top if top > 0 else 1.0)


def _photo_axes(axes, photo, net_input, region, fit: str, size: int):
    """The reader's photo with the part the network saw outlined, and the square the network was given."""
    from matplotlib.patches import Rectangle

    photo, net_input = _np(photo), _np(net_input)
    a, b = axes
    a.imshow(photo, cmap="gray" if photo.ndim == 2 else None)
    left, top, width, height = region
    a.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False, edgecolor="#ffd400", linewidth=2))
    a.set_title(f"photo {photo.shape[1]}x{photo.shape[0]}\noutlined: what the network saw\n({fit})", fontsize=8)
    b.imshow(net_input, cmap="gray" if net_input.ndim == 2 else None)
    b.set_title(f"network input {size}x{size}", fontsize=8)
    for ax in (a, b):
        ax.set_xticks([])
        ax.set_yticks([])


FIT_WORDS = {"crop": "centre crop", "squeeze": "whole photo squeezed", "pad": "whole photo padded"}


def activation_figure(photo, net_input, region, panels: dict, title: str, fit: str = "crop", ncols: int = 4,
                      silent=(), cmap: str = "viridis"):
    """The ``activations`` figure: the photo and what the network saw, then feature maps with a colour bar.

    Args:
        photo: the reader's photo (H, W[, 3]) in [0, 1]; net_input: the square the network was given.
        region: ``(left, top, width, height)`` of ``photo`` that ``net_input`` shows
            (:func:`utils.results.images.fit_square`); drawn as an outline.
        panels: ``{label: (maps (C, h, w), channels)}``: one block of maps per branch, each map titled
            with its channel index; a channel in ``silent`` (pairs ``(label, channel)``), zero all over
            this photo, is marked so.
        title: the figure's title (module, branch, weights and input size belong in it).
        fit: ``"crop"``, ``"squeeze"`` or ``"pad"``, named under the photo.

    All maps share one colour scale (0 to the largest value shown), read on the colour bar.
    """
    size = _np(net_input).shape[0]
    counts = [len(chs) for _, chs in panels.values()]
    rows = [math.ceil(n / ncols) for n in counts]
    height = max(3.2, 1.05 * sum(rows) + 0.35 * len(panels) + 0.8)
    fig = Figure(figsize=(2.6 + 1.05 * ncols + 0.9, height), dpi=80, layout="constrained")
    left, right, bar = fig.subfigures(1, 3, width_ratios=[2.6, 1.05 * ncols, 0.9])
    _photo_axes(left.subplots(2, 1), photo, net_input, region, FIT_WORDS.get(fit, fit), size)
    norm = _map_norm(panels)
    blocks = right.subfigures(len(panels), 1, height_ratios=[r + 0.35 for r in rows], squeeze=False)[:, 0]
    for sub, (label, (maps, channels)), nrows in zip(blocks, panels.items(), rows, strict=True):
        maps = _np(maps)
        axes = sub.subplots(nrows, ncols, squeeze=False)
        for ax, c in zip(axes.flat, channels, strict=False):
            ax.imshow(maps[c], cmap=cmap, norm=norm)
            is_dead = (label, int(c)) in set(silent)
            ax.set_title(f"ch {c}" + (" (silent)" if is_dead else ""), fontsize=7, pad=1,
                         color="#c00000" if is_dead else "k")
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
            if not ax.get_images():
                ax.set_axis_off()
        h, w = maps.shape[-2:]
        sub.suptitle(f"{label}: {len(channels)} of {len(maps)} channels, maps {h}x{w}", fontsize=8,
                     color=BRANCH_COLOURS.get(label.split(" ")[0], "k"))
    from matplotlib.cm import ScalarMappable

    cax = bar.add_subplot(bar.add_gridspec(8, 3)[1:7, 0])
    bar.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax, label="activation (after ReLU)")
    import textwrap

    width_chars = int(fig.get_figwidth() * 12)  # about 12 characters of 9-point text per inch
    fig.suptitle("\n".join(textwrap.fill(line, width_chars) for line in title.splitlines()), fontsize=9)
    return fig


def channel_view(image, maps, channel: int, name: str = "", fig=None, alpha: float = 0.6, dead: bool = False,
                 photos_seen: int | None = None):
    """One channel of one branch for the explorer: the input with the map's cell grid, the map, and both laid over.

    Args:
        image: the network's input (H, W, 3) or (H, W) in [0, 1]; maps: (C, h, w) activations of one
            branch for it. The grid on the input has one cell per map position (H/h pixels), so a bright
            cell on the map points at the same cell of the photo.
        dead: the channel never fired (was never positive) on any photo the explorer holds; said in
            the title, with ``photos_seen``, so a flat map is not mistaken for a drawing fault.
    """
    image, maps = _np(image), _np(maps)
    if not 0 <= channel < len(maps):
        raise ValueError(f"channel {channel} out of range: {name or 'this branch'} has {len(maps)} channels")
    fig = fig or Figure(figsize=(8.4, 3.0), dpi=80, layout="constrained")
    a, b, c = fig.subplots(1, 3)
    h, w = image.shape[:2]
    m = maps[channel]
    mh, mw = m.shape
    a.imshow(image, cmap="gray" if image.ndim == 2 else None)
    for y in np.arange(1, mh) * h / mh:
        a.axhline(y - 0.5, color="white", linewidth=0.5, alpha=0.7)
    for x in np.arange(1, mw) * w / mw:
        a.axvline(x - 0.5, color="white", linewidth=0.5, alpha=0.7)
    a.set_title(f"input {w}x{h}, grid of the {mw}x{mh} map\n(one cell = {w / mw:g} px)", fontsize=8)
    im = b.imshow(m, cmap="viridis", vmin=0, vmax=max(float(m.max()), 1e-6))
    fig.colorbar(im, ax=b, shrink=0.8)
    if dead:
        seen = f" on the {photos_seen} photos here" if photos_seen else ""
        b.set_title(f"{name} channel {channel}: DEAD\n(never positive{seen})", fontsize=8, color="#c00000")
    else:
        b.set_title(f"{name} channel {channel}\nmean {m.mean():.3g}, max {m.max():.3g}", fontsize=8)
    c.imshow(image, cmap="gray" if image.ndim == 2 else None)
    c.imshow(m, cmap="magma", alpha=alpha, extent=(-0.5, w - 0.5, h - 0.5, -0.5), interpolation="nearest")
    c.set_title("map over the input", fontsize=8)
    for ax in (a, b, c):
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def save_figure(fig, name: str, dpi: int = 80):
    """Write ``fig`` to ``assets/name`` in full mode; in quick mode write nothing and return ``None``.

    Quick runs (tests, CI) must not change tracked files, so only a full run refreshes the figures
    the notes link to.
    """
    from ..paths import ASSETS, quick_mode

    if quick_mode():
        return None
    ASSETS.mkdir(exist_ok=True)
    path = ASSETS / name
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
