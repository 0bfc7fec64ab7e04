"""What each Inception branch responds to (§4, Figure 2(b)): loading a model and images, the
analyses behind notebook 06, and the ``activations`` command.

§4 motivates the module's four parallel branches (1x1, 3x3, 5x5 convolutions and a pooling
path) as a way to cover "clusters" at several spatial scales. Here we measure what the branches
actually do in a trained network: their share of the activation energy against their share of
the multiply-adds, and whether one branch of a module specialises in a kind of feature, scored on
the image patches that excite its channels most (colourfulness on ImageNet photos, spatial
frequency and orientation on grayscale MNIST digits).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .hooks import BRANCHES, INCEPTION_MODULES, branch_names, record_activations

PHOTOS = ("chelsea", "astronaut", "coffee", "rocket")  # scikit-image's bundled real photographs
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ----------------------------------------------------------------------------- models and images
def load_model(weights: str | Path | None = None, quick: bool | None = None) -> tuple[nn.Module, dict]:
    """The network to inspect, and a description of it.

    ImageNet weights (torchvision variant) when a file is found (``weights``, ``$GOOGLENET_WEIGHTS``
    or torchvision's cache); otherwise the project's model trained on MNIST
    (:func:`utils.train.default_model`).

    Returns:
        ``(model in eval mode, info)``; ``info`` has ``weights`` (one line for the reader),
        ``dataset``, ``variant``, ``classes``, ``image_size``, ``mean``, ``std``.
    """
    from .weights import find_imagenet_weights, imagenet_categories, pretrained_googlenet

    found = find_imagenet_weights(weights)
    if weights is not None and found is None:
        raise FileNotFoundError(f"weights file {str(weights)!r} does not exist; check the path")
    if found is not None:
        model = pretrained_googlenet(found, download=False)
        return model, {"weights": f"ImageNet weights (torchvision variant) from {found.name}",
                       "dataset": "imagenet", "variant": "torchvision", "classes": imagenet_categories(),
                       "image_size": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    from .train import default_model

    model, meta = default_model(variant="paper", seed=0, quick=quick)
    mean, std = _dataset_stats(meta)
    acc = meta.get("val_accuracy")
    return model.eval(), {
        "weights": (f"paper variant trained on {meta.get('dataset', 'MNIST')} by this project"
                    + (f" (validation accuracy {acc:.1%})" if isinstance(acc, float) else "")),
        "dataset": meta.get("dataset", "mnist"), "variant": "paper", "classes": list(meta.get("classes", [])),
        "image_size": int(meta.get("image_size", 32)), "mean": mean, "std": std, "meta": meta}


def _dataset_stats(meta: dict) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if "mean" in meta and "std" in meta:
        return tuple(meta["mean"]), tuple(meta["std"])
    from . import data

    return (data.MNIST_MEAN,), (data.MNIST_STD,)


def _resize_square(img: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square and resize to ``size`` (anti-aliased); (H, W[, 3]) floats in [0, 1]."""
    from skimage.transform import resize

    h, w = img.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    img = img[top:top + s, left:left + s]
    return resize(img, (size, size), anti_aliasing=True).astype(np.float32)


def photos(size: int = 224, names=PHOTOS) -> dict[str, np.ndarray]:
    """scikit-image's real photographs, centre-cropped and resized: name -> (size, size, 3) in [0, 1]."""
    import skimage.data

    return {n: _resize_square(getattr(skimage.data, n)()[..., :3] / 255.0, size) for n in names}


def mnist_digits(count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` validation digits of :func:`utils.data.mnist`: ((N, size, size) in [0, 1], labels)."""
    from . import data

    bundle = data.mnist(image_size=size)
    mean, std = bundle.mean[0], bundle.std[0]
    items = [bundle.val[i] for i in range(min(count, len(bundle.val)))]
    images = np.stack([(x[0] * std + mean).clamp(0, 1).numpy() for x, _ in items])
    return images.astype(np.float32), np.array([y for _, y in items])


def to_input(images, mean, std) -> torch.Tensor:
    """(N, H, W, 3) or (N, H, W) floats in [0, 1] -> a normalised (N, 3, H, W) tensor for the network."""
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    x = x.unsqueeze(-1) if x.dim() == 3 else x
    x = x.permute(0, 3, 1, 2)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return ((x - mean_t) / std_t).expand(-1, 3, -1, -1).contiguous()


def read_image(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) floats in [0, 1]; clear errors for a missing or unreadable file."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image {str(path)!r} does not exist; check the path")
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is a directory, not an image file; pass a .jpg or .png file")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read {str(path)!r} as an image ({type(exc).__name__}); "
                         "pass a JPEG, PNG or other format Pillow can open") from None


@torch.no_grad()
def record(model: nn.Module, x: torch.Tensor, names=None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One forward pass of ``x`` with every Inception module and branch recorded: (activations, logits)."""
    with record_activations(model, names) as acts:
        logits = model(x)
    return dict(acts), logits


def top_classes(logits: torch.Tensor, classes: list[str], k: int = 5) -> pd.DataFrame:
    """The top-``k`` classes of each image: columns image, rank, label, probability."""
    probs = logits.softmax(-1)
    p, idx = probs.topk(min(k, probs.shape[-1]), dim=-1)
    rows = [{"image": i, "rank": r + 1, "label": classes[int(idx[i, r])] if classes else int(idx[i, r]),
             "probability": float(p[i, r])} for i in range(len(p)) for r in range(p.shape[1])]
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- analyses
def branch_energy(acts: dict[str, torch.Tensor]) -> pd.DataFrame:
    """Each branch's share of its module's activation energy (sum of squared activations).

    The concatenated output of a module is the four branches side by side (§4), so the four
    energies add up to the module's; the shares are per image averaged over the batch.

    Returns:
        Columns module, branch, channels, energy (mean per image), energy_share.
    """
    rows = []
    for module in INCEPTION_MODULES:
        names = [f"{module}.{b}" for b in BRANCHES]
        if not all(n in acts for n in names):
            continue
        energy = torch.stack([acts[n].double().pow(2).flatten(1).sum(1) for n in names])  # (4, N)
        share = (energy / energy.sum(0).clamp_min(1e-30)).mean(1)
        for b, n, e, s in zip(BRANCHES, names, energy.mean(1), share, strict=True):
            rows.append({"module": module, "branch": b, "channels": acts[n].shape[1],
                         "energy": float(e), "energy_share": float(s)})
    if not rows:
        raise ValueError("no complete module in the activations; record all four branches of at least one module")
    return pd.DataFrame(rows)


def energy_vs_macs(acts: dict[str, torch.Tensor], macs: pd.DataFrame) -> pd.DataFrame:
    """:func:`branch_energy` joined with each branch's share of its module's multiply-adds.

    Args:
        macs: columns module, branch, macs (e.g. :func:`utils.profiling.branch_breakdown`).
    """
    energy = branch_energy(acts)
    m = macs[["module", "branch", "macs"]].copy()
    m["macs_share"] = m["macs"] / m.groupby("module")["macs"].transform("sum")
    out = energy.merge(m, on=["module", "branch"], how="left", validate="one_to_one")
    if out["macs"].isna().any():
        missing = out.loc[out["macs"].isna(), ["module", "branch"]].values.tolist()
        raise ValueError(f"no multiply-adds for {missing}; the macs table must cover every branch")
    return out


def channel_means(act: torch.Tensor) -> torch.Tensor:
    """Mean activation of each channel over the map: (N, C, H, W) -> (N, C)."""
    return act.mean(dim=(-2, -1))


def top_patches(act: torch.Tensor, images: np.ndarray, patch: int, per_channel: int = 1) -> np.ndarray:
    """For every channel, the image patches centred where that channel fires most.

    A position (i, j) on an h x w map of an H x W image sits over the image point
    ((i + 0.5) H/h, (j + 0.5) W/w); we cut a ``patch`` x ``patch`` window there (clipped to the image).

    Args:
        act: (N, C, h, w) activations of one branch.
        images: (N, H, W, 3) or (N, H, W) in [0, 1], the images that produced ``act``.
        per_channel: how many top positions (across all images) per channel.

    Returns:
        (C, per_channel, patch, patch[, 3]).
    """
    n, c, h, w = act.shape
    big_h, big_w = images.shape[1:3]
    if len(images) != n:
        raise ValueError(f"{len(images)} images for activations of {n}; pass the images that produced them")
    patch = min(patch, big_h, big_w)
    flat = act.permute(1, 0, 2, 3).reshape(c, -1)
    top = flat.topk(min(per_channel, flat.shape[1]), dim=1).indices
    out = np.zeros((c, top.shape[1], patch, patch) + images.shape[3:], dtype=np.float32)
    for ch in range(c):
        for k, idx in enumerate(top[ch].tolist()):
            img, rem = divmod(idx, h * w)
            i, j = divmod(rem, w)
            cy, cx = (i + 0.5) * big_h / h, (j + 0.5) * big_w / w
            top_y = int(np.clip(round(cy - patch / 2), 0, big_h - patch))
            left = int(np.clip(round(cx - patch / 2), 0, big_w - patch))
            out[ch, k] = images[img, top_y:top_y + patch, left:left + patch]
    return out


def colourfulness(patches: np.ndarray) -> np.ndarray:
    """Hasler and Süsstrunk's colourfulness (2003) of RGB patches (..., H, W, 3) in [0, 1].

    rg = R - G, yb = (R + G)/2 - B; M = sqrt(sd_rg² + sd_yb²) + 0.3 sqrt(mean_rg² + mean_yb²).
    0 for any gray patch; on a 0-255 scale (this value x 255) about 15 is "slightly" and 60+ "highly"
    colourful in their study.
    """
    patches = np.asarray(patches, dtype=np.float64)
    if patches.shape[-1] != 3:
        raise ValueError(f"colourfulness needs RGB patches (..., H, W, 3), got shape {patches.shape}")
    r, g, b = patches[..., 0], patches[..., 1], patches[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    axes = (-2, -1)
    return (np.sqrt(rg.std(axes) ** 2 + yb.std(axes) ** 2)
            + 0.3 * np.sqrt(rg.mean(axes) ** 2 + yb.mean(axes) ** 2))


def _gray(patches: np.ndarray) -> np.ndarray:
    patches = np.asarray(patches, dtype=np.float64)
    return patches.mean(-1) if patches.shape[-1] == 3 and patches.ndim >= 3 else patches


def spatial_frequency(patches: np.ndarray) -> np.ndarray:
    """Power-weighted mean spatial frequency (cycles per pixel, 0 .. 0.71) of patches (..., H, W[, 3]).

    The patch mean is removed first, so a flat patch scores 0 by convention; fine strokes and
    edges score high, smooth blobs low.
    """
    g = _gray(patches)
    g = g - g.mean(axis=(-2, -1), keepdims=True)
    power = np.abs(np.fft.fft2(g)) ** 2
    h, w = g.shape[-2:]
    radius = np.sqrt(np.fft.fftfreq(h)[:, None] ** 2 + np.fft.fftfreq(w)[None, :] ** 2)
    total = power.sum(axis=(-2, -1))
    return np.where(total > 0, (power * radius).sum(axis=(-2, -1)) / np.maximum(total, 1e-30), 0.0)


def orientation(patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dominant gradient orientation (degrees, 0-180) and its coherence (0 .. 1) of each patch.

    From the structure tensor J = sum of (gx², gx gy; gx gy, gy²): coherence is
    sqrt((Jxx - Jyy)² + 4 Jxy²) / (Jxx + Jyy): 1 for a single straight stroke, 0 for no
    preferred direction. The angle is the gradient's, i.e. perpendicular to the stroke.
    """
    g = _gray(patches)
    gy, gx = np.gradient(g, axis=(-2, -1))
    jxx, jyy, jxy = ((gx * gx).sum((-2, -1)), (gy * gy).sum((-2, -1)), (gx * gy).sum((-2, -1)))
    trace = jxx + jyy
    coherence = np.where(trace > 0, np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2) / np.maximum(trace, 1e-30), 0.0)
    angle = np.degrees(0.5 * np.arctan2(2 * jxy, jxx - jyy)) % 180
    return angle, coherence


SCORES = {
    "colourfulness": colourfulness,
    "spatial_frequency": spatial_frequency,
    "orientation_coherence": lambda p: orientation(p)[1],
}


def patch_size(act: torch.Tensor, image_size: int, factor: float = 2.0) -> int:
    """Patch side for a branch: ``factor`` times its stride w.r.t. the input (8, 16 or 32 at 224)."""
    return max(4, int(round(factor * image_size / act.shape[-1])))


def branch_specialisation(acts: dict[str, torch.Tensor], images: np.ndarray, score: str = "colourfulness",
                          per_channel: int = 3, factor: float = 2.0, modules=INCEPTION_MODULES) -> pd.DataFrame:
    """Score the top-activating patches of every channel of every branch, and compare branches.

    For each channel, its ``per_channel`` strongest positions (across all images) give image
    patches; each patch gets a score (:data:`SCORES`) and a channel's score is their mean. As a
    baseline, the same score over patches cut on a regular grid of the same images.

    Returns:
        Columns module, branch, channels, score (mean over channels), score_std, baseline, ratio
        (score / baseline) and share_above (fraction of channels above the baseline's 90th percentile).
    """
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}; choose one of {sorted(SCORES)}")
    fn = SCORES[score]
    images = np.asarray(images, dtype=np.float32)
    rows = []
    for module in modules:
        for name in branch_names(module):
            act = acts[name]
            p = patch_size(act, images.shape[1], factor)
            per = fn(top_patches(act, images, p, per_channel)).mean(axis=1)
            base = fn(grid_patches(images, p))
            high = np.quantile(base, 0.9)
            rows.append({"module": module, "branch": name.split(".")[1], "channels": act.shape[1],
                         "score": float(per.mean()), "score_std": float(per.std()),
                         "baseline": float(base.mean()),
                         "ratio": float(per.mean() / base.mean()) if base.mean() > 0 else float("nan"),
                         "share_above": float((per > high).mean())})
    return pd.DataFrame(rows)


def grid_patches(images: np.ndarray, patch: int) -> np.ndarray:
    """Patches of side ``patch`` on a regular, non-overlapping grid of every image: (M, patch, patch[, 3])."""
    images = np.asarray(images)
    h, w = images.shape[1:3]
    patch = min(patch, h, w)
    out = [images[:, y:y + patch, x:x + patch] for y in range(0, h - patch + 1, patch)
           for x in range(0, w - patch + 1, patch)]
    return np.concatenate(out)


def pivot(table: pd.DataFrame, value: str) -> pd.DataFrame:
    """Module x branch view of a long table (rows: modules in Table 1 order; columns: branch1..4)."""
    out = table.pivot(index="module", columns="branch", values=value)
    return out.reindex([m for m in INCEPTION_MODULES if m in out.index])[[b for b in BRANCHES if b in out.columns]]


# ----------------------------------------------------------------------------- cost of recording
def recorder_overhead(model: nn.Module | None = None, input_size: int = 224, batch: int = 1,
                      repeats: int = 5) -> dict[str, float]:
    """Time a plain forward pass against one that records all 45 default outputs.

    Runs interleaved (plain, recorded) pairs after one warm-up pair and keeps the fastest of each,
    as ``timeit`` does: other processes only ever add time, so the minimum is the least disturbed
    measurement, and interleaving exposes both to the same conditions. The target is an overhead
    of at most 10%. The copies are small: about 10 MB for one 224x224 image against ~1.5 G
    multiply-adds of compute.

    Returns:
        ``plain_ms``, ``recorded_ms`` and ``overhead`` (recorded / plain - 1).
    """
    from .model import googlenet

    if model is None:
        model = googlenet("paper", num_classes=1000, aux_logits=False)
    model.eval()
    x = torch.randn(batch, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    plain, recorded = [], []
    with torch.no_grad():
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            model(x)
            t1 = time.perf_counter()
            with record_activations(model):
                model(x)
            t2 = time.perf_counter()
            if i:  # the first pair warms up allocator and kernels
                plain.append(t1 - t0)
                recorded.append(t2 - t1)
    p, r = min(plain), min(recorded)
    return {"plain_ms": 1e3 * p, "recorded_ms": 1e3 * r, "overhead": r / p - 1}


# ----------------------------------------------------------------------------- command line
def draw_branches(model: nn.Module, image: np.ndarray, module: str, info: dict, branch: int | None = None,
                  k: int = 8):
    """The figure of the ``activations`` command: one branch's grid, or all four side by side."""
    from . import viz

    names = branch_names(module)
    if branch is not None and not 1 <= branch <= len(BRANCHES):
        raise ValueError(f"--branch must be 1, 2, 3 or 4 (Figure 2(b): 1x1, 3x3, 5x5, pool proj), got {branch}")
    size = info["image_size"]
    img = _resize_square(image, size)
    if len(info["mean"]) == 1:
        img = img.mean(-1)  # a grayscale model sees the luminance
    acts, _ = record(model, to_input(img[None], info["mean"], info["std"]), names)
    label3 = "3x3" if info.get("variant") == "torchvision" else "5x5"  # vision#906
    if branch is None:
        return viz.module_branches({n.split(".")[1]: acts[n][0] for n in names}, k=k, module=module,
                                   branch3_label=label3)
    name = names[branch - 1]
    maps = acts[name][0]
    top = torch.argsort(maps.mean((1, 2)), descending=True)[:32].tolist()
    return viz.feature_grid(maps, channels=top, title=f"{name}: 32 strongest channels of {maps.shape[0]}")


def _cli(args: argparse.Namespace) -> int:
    image = read_image(args.image)
    branch_names(args.module)  # fail on a bad module before loading any weights
    out = Path(args.out)
    if not out.parent.is_dir():
        raise NotADirectoryError(f"folder {str(out.parent)!r} for --out does not exist; create it first")
    if out.suffix.lower() not in {".png", ".jpg", ".jpeg", ".pdf", ".svg"}:
        raise ValueError(f"--out {str(out)!r} needs a .png, .jpg, .pdf or .svg suffix")
    model, info = load_model(args.weights)
    fig = draw_branches(model, image, args.module, info, args.branch)
    fig.savefig(out, dpi=90, bbox_inches="tight")
    print(f"wrote {out} ({info['weights']})")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("activations", help="draw the branch feature maps of one Inception module for an image")
    p.add_argument("--image", required=True, help="image file (JPEG, PNG, ...)")
    p.add_argument("--module", required=True, help=f"one of {', '.join(INCEPTION_MODULES)}")
    p.add_argument("--branch", type=int, default=None,
                   help="1..4 (1x1, 3x3, 5x5, pool proj); default: the four branches side by side")
    p.add_argument("--weights", default=None,
                   help="ImageNet GoogLeNet weights (torchvision layout); default: found locally, else the MNIST model")
    p.add_argument("--out", required=True, help="figure to write, e.g. branches.png")
    p.set_defaults(func=_cli)


# ----------------------------------------------------------------------------- interactive explorer
def explorer(model: nn.Module, images: dict[str, np.ndarray], info: dict):
    """An ipywidgets explorer: pick an image, a module, a branch and a channel; see its map.

    Runs the network once per image (cached) and redraws :func:`utils.viz.channel_view`. Needs a
    live kernel (JupyterLab); a saved notebook shows a static figure in its place.
    """
    import ipywidgets as widgets
    from IPython.display import display

    from . import viz

    cache: dict[str, dict[str, torch.Tensor]] = {}

    def acts_for(key: str) -> dict[str, torch.Tensor]:
        if key not in cache:
            cache[key] = record(model, to_input(images[key][None], info["mean"], info["std"]))[0]
        return cache[key]

    image = widgets.Dropdown(options=list(images), description="image")
    module = widgets.Dropdown(options=list(INCEPTION_MODULES), description="module")
    branch = widgets.Dropdown(options=[(f"{b} ({lbl})", b) for b, lbl in zip(
        BRANCHES, ("1x1", "3x3", "3x3" if info.get("variant") == "torchvision" else "5x5", "pool proj"),
        strict=True)], description="branch")
    channel = widgets.IntSlider(min=0, max=63, description="channel")
    out = widgets.Output()

    def redraw(*_):
        maps = acts_for(image.value)[f"{module.value}.{branch.value}"][0]
        channel.max = maps.shape[0] - 1
        with out:
            out.clear_output(wait=True)
            fig = viz.channel_view(images[image.value], maps, min(channel.value, channel.max),
                                   name=f"{module.value}.{branch.value}")
            display(fig)

    for w in (image, module, branch, channel):
        w.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([image, module]), widgets.HBox([branch, channel]), out])
