"""Images for the network: scikit-image's bundled photos, MNIST digits, image files, and the tensor
the network takes (normalised N x 3 x H x W). No model code here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

PHOTOS = ("chelsea", "astronaut", "coffee", "rocket")  # scikit-image's bundled real photographs


def resize_square(img: np.ndarray, size: int) -> np.ndarray:
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
    x = x.permute(0, 3, 1, 2)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return ((x - mean_t) / std_t).expand(-1, 3, -1, -1).contiguous()


def read_image(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) floats in [0, 1]: :func:`utils.training.data.read_image` (correct for 16-bit,
    transparent, CMYK and EXIF-rotated files, clear errors for missing or unreadable ones) as an array."""
    from ..training.data import read_image as read_tensor

    return read_tensor(path).permute(1, 2, 0).numpy()
