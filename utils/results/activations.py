"""What each Inception branch responds to (§4, Figure 2(b)): the analyses behind notebook 06.

§4 motivates the module's four parallel branches (1x1, 3x3, 5x5 convolutions and a pooling
path) as a way to cover "clusters" at several spatial scales. Here we measure what the branches
actually do in a trained network: their share of the activation energy against their share of
the multiply-adds, and whether one branch of a module specialises in a kind of feature, scored on
the image patches that excite its channels most (colourfulness on ImageNet photos, spatial
frequency and orientation on grayscale MNIST digits).

Elsewhere: the network to inspect (:mod:`utils.training.pretrained`), images (:mod:`utils.results.images`), the
widget explorer (:mod:`utils.presentation.explorer`) and the ``activations`` command
(:mod:`utils.presentation.activations_cli`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..network.hooks import BRANCHES, INCEPTION_MODULES, branch_names, record_activations


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
        macs: columns module, branch, macs (e.g. :func:`utils.measuring.profiling.branch_breakdown`).
    """
    energy = branch_energy(acts)
    m = macs[["module", "branch", "macs"]].copy()
    m["macs_share"] = m["macs"] / m.groupby("module")["macs"].transform("sum")
    out = energy.merge(m, on=["module", "branch"], how="left", validate="one_to_one")
    if out["macs"].isna().any():
        missing = out.loc[out["macs"].isna(), ["module", "branch"]].values.tolist()
        raise ValueError(f"no multiply-adds for {missing}; the macs table must cover every branch")
    return out


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
