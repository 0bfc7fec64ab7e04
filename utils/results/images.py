"""Images for the figures and the explorer: scikit-image's bundled photos, MNIST digits, image files as
(H, W, 3) arrays, a photo of any shape fitted to the network's square, and the tensor the network takes
(normalised N x 3 x H x W). Reading, resizing and normalising are :mod:`utils.network.images`'s; this module
only holds them in the channels-last numpy layout that figures use. No model code here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..network import images as ops

PHOTOS = ("chelsea", "astronaut", "coffee", "rocket")  # scikit-image's bundled real photographs


def _resized(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W[, C]) floats resized to ``size`` by :func:`utils.network.images.resize` (antialiased bilinear)."""
    t = torch.as_tensor(np.asarray(img, dtype=np.float32))
    t = t[None] if t.dim() == 2 else t.permute(2, 0, 1)
    out = ops.resize(t, size)
    return (out[0] if img.ndim == 2 else out.permute(1, 2, 0)).numpy().astype(np.float32)


def resize_square(img: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square and resize to ``size`` (anti-aliased); (H, W[, 3]) floats in [0, 1]."""
    h, w = img.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return _resized(img[top:top + s, left:left + s], (size, size))


FITS = ("crop", "squeeze", "pad")  # how a photo of any shape becomes the network's square input


def fit_square(img: np.ndarray, size: int, fit: str = "crop", fill: float = 0.5) -> tuple[np.ndarray, tuple]:
    """A photo of any shape as the network's ``size`` x ``size`` input, and the part of the photo it shows.

    Args:
        fit: ``"crop"``: the centre square (the sides of a wide photo are cut off); ``"squeeze"``: the whole
            photo resized to a square (shapes are stretched); ``"pad"``: the whole photo, shrunk to fit
            and centred on a ``fill`` background.

    Returns:
        ``(square, region)``: the square (size, size[, 3]) float32 in [0, 1], and ``region = (left, top,
        width, height)`` in the photo's pixels: the part of the photo the square holds.
    """
    if fit not in FITS:
        raise ValueError(f"unknown fit {fit!r}; choose one of {', '.join(FITS)}")
    h, w = img.shape[:2]
    if fit == "crop":
        return resize_square(img, size), ((w - min(h, w)) // 2, (h - min(h, w)) // 2, min(h, w), min(h, w))
    if fit == "squeeze":
        return _resized(img, (size, size)), (0, 0, w, h)
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    out = np.full((size, size) + img.shape[2:], fill, dtype=np.float32)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top:top + nh, left:left + nw] = _resized(img, (nh, nw))
    return out, (0, 0, w, h)


def photos(size: int = 224, names=PHOTOS) -> dict[str, np.ndarray]:
    """scikit-image's real photographs, centre-cropped and resized: name -> (size, size, 3) in [0, 1]."""
    import skimage.data

    return {n: resize_square(getattr(skimage.data, n)()[..., :3] / 255.0, size) for n in names}


def mnist_digits(count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` validation digits of :func:`utils.training.data.mnist`.

    Returns ((N, size, size) in [0, 1], labels).
    """
    from ..training import data

    bundle = data.mnist(image_size=size)
    mean, std = bundle.mean[0], bundle.std[0]
    items = [bundle.val[i] for i in range(min(count, len(bundle.val)))]
    images = np.stack([(x[0] * std + mean).clamp(0, 1).numpy() for x, _ in items])
    return images.astype(np.float32), np.array([y for _, y in items])


def to_input(images, mean, std) -> torch.Tensor:
    """(N, H, W, 3) or (N, H, W) floats in [0, 1] -> a normalised (N, 3, H, W) tensor for the network."""
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    x = x.unsqueeze(-1) if x.dim() == 3 else x
    return ops.normalise(x.permute(0, 3, 1, 2), mean, std).expand(-1, 3, -1, -1).contiguous()


def read_image(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) floats in [0, 1]: :func:`utils.network.images.read_image` (correct for 16-bit,
    transparent, CMYK and EXIF-rotated files, clear errors for missing or unreadable ones) as an array."""
    return ops.read_image(path).permute(1, 2, 0).numpy()
