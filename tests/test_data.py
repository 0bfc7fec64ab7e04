"""Data: the §6 augmentations' ranges, the seeded MNIST split, image folders with bad files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from utils.data import TrainTransform, image_folder, load_dataset, mnist, resize, sample_crop, split_indices


def test_random_sized_crop_stays_in_the_papers_range():
    g = torch.Generator().manual_seed(0)
    fractions, ratios = [], []
    for _ in range(500):
        top, left, h, w = sample_crop(200, 300, (0.08, 1.0), (3 / 4, 4 / 3), g)
        assert 0 <= top and top + h <= 200 and 0 <= left and left + w <= 300
        fractions.append(h * w / (200 * 300))
        ratios.append(w / h)
    # rounding to whole pixels moves the area by well under 2% and the ratio by under 2%
    assert min(fractions) >= 0.08 * 0.98 and max(fractions) <= 1.0
    assert min(ratios) >= 0.75 * 0.98 and max(ratios) <= 4 / 3 * 1.02
    assert min(fractions) < 0.15 and max(fractions) > 0.6  # the whole range is used, not one size


def test_every_interpolation_is_drawn_about_equally():
    t = TrainTransform(32)
    torch.manual_seed(0)
    counts = {}
    for _ in range(400):
        _, _, mode = t.crop_and_resize(torch.rand(1, 28, 28))
        counts[mode] = counts.get(mode, 0) + 1
    assert set(counts) == {"bilinear", "area", "nearest", "bicubic"}
    assert all(60 <= c <= 140 for c in counts.values()), counts  # 100 each, +-4 standard deviations


def test_area_interpolation_averages_pixels():
    img = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    assert resize(img, (1, 1), "area").item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="interpolation"):
        resize(img, (1, 1), "lanczos")


def test_split_is_deterministic_and_disjoint():
    a_train, a_val = split_indices(5000, 1000, seed=0)
    b_train, b_val = split_indices(5000, 1000, seed=0)
    assert torch.equal(a_val, b_val) and torch.equal(a_train, b_train)
    assert len(set(a_train.tolist()) | set(a_val.tolist())) == 5000
    assert not torch.equal(split_indices(5000, 1000, seed=1)[1], a_val)


def test_mnist_bundle():
    data = mnist(image_size=32)
    assert (len(data.train), len(data.val)) == (4000, 1000)
    x, y = data.val[0]
    assert x.shape == (3, 32, 32) and 0 <= y <= 9
    assert torch.equal(x[0], x[2])  # grey repeated to three channels
    xt, _ = data.train[0]
    assert xt.shape == (3, 32, 32) and math.isfinite(xt.sum().item())


def _folder(root, n_per_class=3):
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(n_per_class):
            Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_corrupt_images_are_skipped_and_counted(tmp_path):
    root = _folder(tmp_path / "pets")
    (root / "cat" / "broken.jpg").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        data = image_folder(root, image_size=32)
    assert len(data.train) + len(data.val) == 6 and data.classes == ["cat", "dog"]
    x, _ = data.train[0]
    assert x.shape == (3, 32, 32)


def test_missing_or_empty_directory_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="minimum of 32"):
        load_dataset("mnist", image_size=16)
