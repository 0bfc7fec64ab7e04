"""Data: the §6 augmentations' ranges, the seeded MNIST split, image folders with bad files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from utils.training.data import TrainTransform, image_folder, load_dataset, mnist, resize, sample_crop, split_indices


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


# --- reading image files in every Pillow mode (utils.network.images.read_image) ------------------------------
# Each image is a left half of one value and a right half of another, so its true mean is known
# without reading it back; read_image must return that mean in [0, 1] on all three channels.

def _halves(a, b, dtype=np.uint8, shape=(8, 16)):
    arr = np.empty(shape, dtype=dtype)
    arr[:, : shape[1] // 2], arr[:, shape[1] // 2:] = a, b
    return arr


def _modes(tmp_path):
    from PIL import Image

    cases = []

    def add(name, image, expected, suffix=".png"):
        path = tmp_path / f"{name}{suffix}"
        image.save(path)
        cases.append((name, path, expected))

    add("L", Image.fromarray(_halves(0, 255)), 0.5)
    add("1", Image.fromarray(_halves(0, 255)).convert("1"), 0.5)
    # 16-bit grey, true mean 0.5: 8-bit conversion read it as almost white (0.998)
    add("I;16", Image.fromarray(_halves(16384, 49151, np.uint16)), (16384 + 49151) / 2 / 65535)
    add("I", Image.fromarray(_halves(0, 65535, np.int32)), 0.5, ".tif")
    add("F", Image.fromarray(_halves(0.25, 0.75, np.float32)), 0.5, ".tif")
    rgb = np.stack([_halves(0, 255), _halves(255, 255), _halves(0, 0)], -1)  # channel means 0.5, 1, 0
    add("RGB", Image.fromarray(rgb), (0.5, 1.0, 0.0))
    # alpha 0 on the left (white shows through), opaque black on the right: mean 0.5 on white
    rgba = np.stack([_halves(0, 0)] * 3 + [_halves(0, 255)], -1)
    add("RGBA", Image.fromarray(rgba), 0.5)
    add("LA", Image.fromarray(rgba[..., [0, 3]]), 0.5)
    p = Image.frombytes("P", (16, 8), _halves(0, 1).tobytes())  # palette indices 0 and 1
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    add("P", p, (0.5, 0.0, 0.0))  # black and red halves
    p.info["transparency"] = 0  # the black half transparent: white shows through
    add("P-transparent", p, (1.0, 0.5, 0.5))
    cmyk = np.stack([_halves(0, 0)] * 3 + [_halves(0, 255)], -1)  # K 0 and 100%: white and black
    add("CMYK", Image.fromarray(cmyk, mode="CMYK"), 0.5, ".tif")
    return cases


def test_read_image_gets_the_true_mean_in_every_mode(tmp_path):
    from PIL import Image

    from utils.network.images import read_image
    from utils.training.data import ImageFiles

    cases = _modes(tmp_path)
    for name, path, expected in cases:
        with Image.open(path) as im:  # the file really is in the mode under test
            assert im.mode.split(";")[0] == name.split("-")[0].split(";")[0], (name, im.mode)
        img = read_image(path)
        assert img.dtype == torch.float32 and img.shape == (3, 8, 16), name
        want = torch.tensor(expected if isinstance(expected, tuple) else (expected,) * 3)
        assert torch.allclose(img.mean((1, 2)), want, atol=0.01), (name, img.mean((1, 2)), want)
    files = ImageFiles([path for _, path, _ in cases], [0] * len(cases))  # training data reads the same way
    assert abs(files[2][0].mean().item() - 0.5) < 0.01  # the 16-bit grey


def test_read_image_errors_name_the_path(tmp_path):
    from utils.network.images import read_image

    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_image(tmp_path / "none.png")
    with pytest.raises(ValueError, match="is a folder"):
        read_image(tmp_path)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read"):
        read_image(tmp_path / "bad.png")
