"""utils.network.images: reading (orientation, alpha, 16-bit), resizing, cropping and normalising, checked
against Pillow and against pixels that encode their own coordinates."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from utils.network import images
from utils.network.arch import IMAGENET_MEAN, IMAGENET_STD


def _coordinates(h: int, w: int) -> torch.Tensor:
    """(3, h, w) uint8 whose channel 0 is the row and channel 1 the column of each pixel."""
    rows = torch.arange(h).view(h, 1).expand(h, w)
    cols = torch.arange(w).view(1, w).expand(h, w)
    return torch.stack([rows, cols, torch.zeros(h, w, dtype=torch.long)]).to(torch.uint8)


def test_exif_orientation_is_applied(tmp_path):
    # a 20 x 10 (w x h) picture, red on its left half, stored with "rotate 90 clockwise to view" (6)
    arr = np.zeros((10, 20, 3), dtype=np.uint8)
    arr[:, :10, 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(arr).save(tmp_path / "turned.png", exif=exif)
    img = images.read_image(tmp_path / "turned.png")
    assert img.shape == (3, 20, 10)  # shown upright: taller than wide
    assert img[0, :10].mean() > 0.99 and img[0, 10:].mean() < 0.01  # the left half is now the top


def test_pil_images_are_read_like_files(tmp_path):
    rgba = np.zeros((4, 6, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:, :3, 3] = 255  # opaque red on the left, transparent on the right
    got = images.as_image(Image.fromarray(rgba, "RGBA"))
    assert torch.allclose(got[:, :, :3], torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 4, 3))
    assert torch.allclose(got[:, :, 3:], torch.ones(3, 4, 3))  # transparent shows the white page
    grey16 = Image.fromarray(np.full((5, 5), 32768, dtype=np.uint16))
    assert images.as_image(grey16).mean().item() == pytest.approx(32768 / 65535, abs=1e-6)
    # a 4-channel array is composited the same way
    assert torch.allclose(images.as_image(rgba), got)


def test_reading_gives_no_deprecation_warning(tmp_path):
    Image.fromarray(np.full((8, 8, 3), 7, dtype=np.uint8)).save(tmp_path / "p.jpg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pixels = images.read_uint8(tmp_path / "p.jpg")
    assert pixels.dtype == torch.uint8 and pixels.shape == (3, 8, 8)
    assert torch.equal(pixels, torch.from_numpy(np.asarray(Image.open(tmp_path / "p.jpg")).copy()).permute(2, 0, 1))


def test_corrupt_and_truncated_files_are_clear_errors(tmp_path):
    Image.fromarray(np.zeros((64, 64, 3), dtype=np.uint8)).save(tmp_path / "whole.jpg")
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:len(data) // 3])
    with pytest.raises(ValueError, match=r"cut\.jpg.*damaged"):
        images.read_image(tmp_path / "cut.jpg")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        images.read_uint8(tmp_path / "none.jpg")


def test_resize_shorter_side_is_antialiased_like_pil():
    """Against PIL's bilinear resize, which filters over the whole footprint when shrinking: a
    checkerboard of single pixels shrunk 4x is mid-grey with antialiasing, and aliased without."""
    board = ((torch.arange(64).view(64, 1) + torch.arange(96).view(1, 96)) % 2 * 255).to(torch.uint8)
    img = board.expand(3, -1, -1).contiguous()
    small = images.resize_shorter(img, 16)
    assert small.shape == (3, 16, 24) and small.dtype == torch.uint8
    ref = np.asarray(Image.fromarray(board.numpy()).resize((24, 16), Image.BILINEAR)).astype(int)
    assert np.abs(small[0].numpy().astype(int) - ref).max() <= 2
    assert (small.float() - 127.5).abs().max() < 3  # an aliased resize gives 0 and 255 here


def test_resize_shorter_keeps_the_aspect_like_torchvision():
    img = torch.zeros(3, 40, 61)
    assert images.resize_shorter(img, 20).shape == (3, 20, 30)  # 30.5 truncated, as Resize(20) does
    assert images.resize_shorter(torch.zeros(3, 61, 40), 20).shape == (3, 30, 20)
    assert images.resize_shorter(img, 40) is img  # already there: untouched
    assert images.resize_shorter(img, 80).shape == (3, 80, 122)  # smaller images are upscaled


def test_centre_crop_takes_the_centre_by_coordinates():
    img = _coordinates(10, 17)
    crop = images.centre_crop(img, 6)
    # (10 - 6) / 2 = 2 rows and (17 - 6) / 2 = 5.5 -> 6 columns (rounded, as torchvision's center_crop)
    assert crop[0, 0, 0] == 2 and crop[1, 0, 0] == 6 and crop.shape == (3, 6, 6)
    with pytest.raises(ValueError, match="smaller than the 12x12 centre crop"):
        images.centre_crop(img, 12)


def test_normalise_per_channel_and_grey():
    x = torch.full((3, 2, 2), 0.5)
    out = images.normalise(x, (0.5, 0.25, 0.0), (0.5, 0.25, 0.5))
    assert out[:, 0, 0].tolist() == [0.0, 1.0, 1.0]
    grey = images.normalise(torch.full((1, 2, 2), 0.3), (0.1,), (0.2,))
    assert grey.shape == (3, 2, 2) and torch.allclose(grey, torch.ones(3, 2, 2))
    batch = images.normalise(torch.zeros(2, 3, 4, 4), IMAGENET_MEAN, IMAGENET_STD)
    assert batch.shape == (2, 3, 4, 4) and batch[1, 2, 0, 0].item() == pytest.approx(-0.406 / 0.225)


def test_square_and_protocol_cut_the_same_centre():
    img = _coordinates(40, 60)
    sq = images.square(img, 20)  # 40x60 -> 20x30, centre 20 columns start at 5 -> source column 10
    assert sq.shape == (3, 20, 20)
    assert sq[1, 0, 0].item() in (10, 11) and sq[0, 0, 0].item() in (0, 1)
    x = images.protocol_input(img, 20, 1.0, (0, 0, 0), (1, 1, 1))
    assert torch.allclose(x * 255, sq.float(), atol=1)
