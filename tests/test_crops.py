"""§7's 144 crops, checked pixel by pixel on synthetic images whose values encode coordinates."""

import numpy as np
import pytest
import torch
from PIL import Image

from utils.network.images import as_image
from utils.results.crops import CropLabel, multi_crop, multi_crop_batch, num_crops, scales_for


def coordinate_image(h, w):
    """Channel 0 holds the row index, channel 1 the column index, channel 2 a constant 7."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    return torch.stack([ys, xs, torch.full_like(ys, 7.0)])


def origin(crop):
    """(row, column) of a crop's top-left pixel in the coordinate image."""
    return int(crop[0, 0, 0]), int(crop[1, 0, 0])


def test_counts_shapes_and_label_product():
    img = torch.rand(3, 300, 400)
    crops, labels = multi_crop(img, "144", return_labels=True)
    assert crops.shape == (144, 3, 224, 224)
    # 4 scales x 3 squares x 6 positions x 2 mirrors, each combination exactly once
    assert len(set(labels)) == 144
    assert {lab.scale for lab in labels} == {256, 288, 320, 352}
    assert {lab.square for lab in labels} == {"left", "center", "right"}
    assert multi_crop(img, "10").shape == (10, 3, 224, 224)
    assert multi_crop(img, "1").shape == (1, 3, 224, 224)
    assert [num_crops(s) for s in ("144", "10", "1")] == [144, 10, 1]
    assert multi_crop(img, "144", mirror=False).shape[0] == num_crops("144", mirror=False) == 72


def test_scales_follow_the_crop_size():
    assert scales_for(224) == (256, 288, 320, 352)
    assert scales_for(32) == (37, 41, 46, 50)  # 256*32/224 = 36.6, 41.1, 45.7, 50.3
    crops = multi_crop(torch.rand(1, 28, 28), "144", crop_size=32)
    assert crops.shape == (144, 3, 32, 32)


def test_corner_and_center_coordinates_at_the_native_scale():
    # A landscape image whose shorter side is already 256: the 256 scale is not resampled, so the
    # crops are exact slices. Squares of 256 start at x = 0, (384-256)/2 = 64 and 384-256 = 128.
    img = coordinate_image(256, 384)
    crops, labels = multi_crop(img, "144", return_labels=True)
    got = {(lab.square, lab.position): origin(c) for c, lab in zip(crops, labels, strict=True)
           if lab.scale == 256 and not lab.mirror and lab.position != "full"}
    for square, x0 in (("left", 0), ("center", 64), ("right", 128)):
        assert got[(square, "top-left")] == (0, x0)
        assert got[(square, "top-right")] == (0, x0 + 256 - 224)
        assert got[(square, "bottom-left")] == (256 - 224, x0)
        assert got[(square, "bottom-right")] == (32, x0 + 32)
        assert got[(square, "center")] == (16, x0 + 16)  # (256-224)/2 = 16


def test_center_crop_is_the_middle_of_the_square_and_crops_are_contiguous_slices():
    img = coordinate_image(256, 384)
    crops, labels = multi_crop(img, "144", return_labels=True)
    i = labels.index(CropLabel(256, "center", "center", False))
    # the center square spans columns 64..319; its middle 224 starts at row 16, column 64 + 16
    expected = img[:, 16:240, 80:304]
    assert torch.equal(crops[i], expected)


def test_portrait_images_use_top_center_bottom_squares():
    img = coordinate_image(384, 256)
    crops, labels = multi_crop(img, "144", return_labels=True)
    assert {lab.square for lab in labels} == {"top", "center", "bottom"}
    for square, y0 in (("top", 0), ("center", 64), ("bottom", 128)):
        i = labels.index(CropLabel(256, square, "top-left", False))
        assert origin(crops[i]) == (y0, 0)


def test_mirror_is_the_left_right_flip_of_its_crop():
    img = torch.rand(3, 240, 300)
    crops, labels = multi_crop(img, "144", return_labels=True)
    for i, lab in enumerate(labels):
        if lab.mirror:
            j = labels.index(lab._replace(mirror=False))
            assert torch.equal(crops[i], crops[j].flip(-1))
    # mirrors come last, so mirror=False is the first half
    assert torch.equal(multi_crop(img, "144", mirror=False), crops[:72])


def test_full_crop_is_the_square_resized():
    # A constant square resizes to the same constant; a coordinate ramp stays monotone end to end.
    img = coordinate_image(256, 256)
    crops, labels = multi_crop(img, "144", return_labels=True)
    full = crops[labels.index(CropLabel(256, "center", "full", False))]
    assert torch.allclose(full[2], torch.full((224, 224), 7.0))
    assert full[1, 0, 0] < 2 and full[1, 0, -1] > 253  # columns 0..255 squeezed into 224
    assert torch.all(full[1, :, 1:] >= full[1, :, :-1])


def test_ten_and_one_crop_coordinates():
    img = coordinate_image(256, 300)  # shorter side already 256: no resampling
    crops, labels = multi_crop(img, "10", return_labels=True)
    pos = {lab.position: origin(c) for c, lab in zip(crops[:5], labels[:5], strict=True)}
    assert pos == {"top-left": (0, 0), "top-right": (0, 76), "bottom-left": (32, 0),
                   "bottom-right": (32, 76), "center": (16, 38)}
    one = multi_crop(img, "1")
    assert torch.equal(one[0], img[:, 16:240, 38:262])


def test_pil_grayscale_rgba_and_small_images():
    gray = Image.fromarray(np.full((20, 30), 255, dtype=np.uint8), mode="L")
    crops = multi_crop(gray, "144")  # 20 px is far below 256: upscaled
    assert crops.shape == (144, 3, 224, 224)
    assert torch.allclose(crops, torch.ones_like(crops))
    rgba = Image.fromarray(np.zeros((50, 40, 4), dtype=np.uint8), mode="RGBA")
    assert multi_crop(rgba, "10").shape == (10, 3, 224, 224)
    assert as_image(np.zeros((5, 6, 3), dtype=np.uint8)).shape == (3, 5, 6)


def test_bad_inputs_get_clear_errors(tmp_path):
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="cannot read"):
        multi_crop(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        multi_crop(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="unknown crop scheme"):
        multi_crop(torch.rand(3, 64, 64), "12")
    with pytest.raises(ValueError, match="one image at a time"):
        multi_crop(torch.rand(2, 3, 64, 64))


def test_batch_matches_single_images():
    imgs = torch.rand(3, 3, 40, 50)
    batch, _ = multi_crop_batch(imgs, "144", crop_size=32)
    for k in range(3):
        assert torch.allclose(batch[k], multi_crop(imgs[k], "144", crop_size=32), atol=1e-6)


def test_mosaic_places_each_crop_in_its_row_and_column():
    from utils.results.crops import crop_mosaic

    crops, labels = multi_crop(torch.rand(3, 40, 50), "144", crop_size=16, return_labels=True)
    mosaic, rows, cols = crop_mosaic(crops, labels, thumb=16)
    assert mosaic.shape == (3, 12 * 16, 12 * 16)
    assert rows[0] == "18/left" and cols[-1] == "full (m)"  # round(256 * 16 / 224) = 18
    i = labels.index(CropLabel(18, "center", "top-right", True))
    r, c = rows.index("18/center"), cols.index("top-right (m)")
    assert torch.equal(mosaic[:, r * 16:(r + 1) * 16, c * 16:(c + 1) * 16], crops[i])
