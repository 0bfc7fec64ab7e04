"""Test-time cropping of §7 ("Testing"): the 144 crops of GoogLeNet's submission, and 10 and 1 crops.

§7: each image is resized to four scales whose shorter side is 256, 288, 320 and 352 pixels. From
each scale the left, center and right squares are taken (top, center and bottom for portrait
images). From each square come the 4 corner crops and the center crop of 224x224, and the square
itself resized to 224x224; and the mirror image of each. That is 4 x 3 x 6 x 2 = 144 crops.

The smaller schemes, for Table 3's comparison (the paper does not spell them out; these are the
usual ones of AlexNet's evaluation):

* ``"10"``: the image resized to shorter side 256, its 4 corner crops and center crop, and mirrors.
* ``"1"``: the image resized to shorter side 256, its center crop.

Every size scales with ``crop_size``: for a model trained on 32x32 images, the scales are
``round(s * 32 / 224)`` for s in (256, 288, 320, 352), i.e. 37, 41, 46 and 50 pixels. An image whose
shorter side is below a scale is upscaled to it (bilinear), exactly as a larger one is shrunk;
nothing is padded.

Crops come in a fixed order, mirrors last: scale, then square, then position, so that the first
half of the 144 (or 10) crops are the unmirrored ones and ``mirror=False`` gives that half.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..network.images import as_image, resize, resize_shorter

# §7: "resize the image to 4 scales where the shorter dimension (height or width) is 256, 288,
# 320 and 352 respectively"
PAPER_SCALES = (256, 288, 320, 352)
PAPER_CROP_SIZE = 224  # §5: the receptive field of the network is 224x224
SINGLE_SCALE = 256  # the usual resize before 10 or 1 crop (AlexNet's evaluation); not in §7
SCHEMES = ("144", "10", "1")
# §7: "the 4 corners and the center 224x224 crop as well as the square resized to 224x224"
POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "center", "full")


class CropLabel(NamedTuple):
    """Where a crop comes from.

    ``scale`` is the shorter side in pixels of the resized image; ``square`` is "left", "center" or
    "right" ("top", "center", "bottom" for portrait images, "whole" for the 10 and 1 crop schemes);
    ``position`` is one of :data:`POSITIONS`; ``mirror`` says whether it is flipped left-right.
    """

    scale: int
    square: str
    position: str
    mirror: bool

    def __str__(self) -> str:
        return f"{self.scale}/{self.square}/{self.position}" + ("/mirror" if self.mirror else "")


def num_crops(scheme: str, mirror: bool = True) -> int:
    """How many crops ``scheme`` yields: 144, 10 or 1 (72 and 5 without mirrors)."""
    check_scheme(scheme)
    return {"144": 144, "10": 10, "1": 1}[scheme] // (2 if mirror is False and scheme != "1" else 1)


def check_scheme(scheme: str) -> None:
    if str(scheme) not in SCHEMES:
        raise ValueError(f"unknown crop scheme {scheme!r}; use one of {SCHEMES} (§7: 144 crops, "
                         "or the 10-crop and 1-crop baselines of Table 3)")


def scales_for(crop_size: int = PAPER_CROP_SIZE, scheme: str = "144") -> tuple[int, ...]:
    """The shorter sides used by ``scheme`` for a network whose input is ``crop_size`` pixels.

    The paper's sizes (256..352 around a 224 crop) scaled in proportion: ``round(s * crop_size / 224)``.
    """
    check_scheme(scheme)
    if int(crop_size) < 1:
        raise ValueError(f"crop_size must be a positive number of pixels, got {crop_size}")
    base = PAPER_SCALES if scheme == "144" else (SINGLE_SCALE,)
    return tuple(round(s * crop_size / PAPER_CROP_SIZE) for s in base)


def _five_crops(region: torch.Tensor, c: int):
    """The 4 corner crops and the center crop of ``region`` (N, C, H, W), in :data:`POSITIONS` order."""
    h, w = region.shape[-2:]
    top, left = (h - c) // 2, (w - c) // 2
    yield "top-left", region[..., :c, :c]
    yield "top-right", region[..., :c, w - c:]
    yield "bottom-left", region[..., h - c:, :c]
    yield "bottom-right", region[..., h - c:, w - c:]
    yield "center", region[..., top:top + c, left:left + c]


def _squares(resized: torch.Tensor):
    """§7's three squares of a resized image: left/center/right, or top/center/bottom if portrait."""
    h, w = resized.shape[-2:]
    s = min(h, w)
    if h <= w:  # landscape (and square images)
        offsets = (0, (w - s) // 2, w - s)
        for name, x in zip(("left", "center", "right"), offsets, strict=True):
            yield name, resized[..., :, x:x + s]
    else:
        offsets = (0, (h - s) // 2, h - s)
        for name, y in zip(("top", "center", "bottom"), offsets, strict=True):
            yield name, resized[..., y:y + s, :]


def multi_crop_batch(images: torch.Tensor, scheme: str = "144", crop_size: int = PAPER_CROP_SIZE,
                     mirror: bool = True) -> tuple[torch.Tensor, list[CropLabel]]:
    """The crops of ``scheme`` for a batch of same-sized images.

    Args:
        images: (N, C, H, W) float tensor.
        scheme: ``"144"`` (§7), ``"10"`` or ``"1"``.
        crop_size: side of each crop, the network's input size (224 in the paper).
        mirror: include the left-right mirror of every crop (§7 does).

    Returns:
        crops of shape (N, n, C, crop_size, crop_size) and the ``n`` labels, one per crop.
    """
    check_scheme(scheme)
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError("multi_crop_batch expects an (N, C, H, W) tensor; use multi_crop for one image")
    c = int(crop_size)
    crops, labels = [], []
    if scheme == "144":
        for scale in scales_for(c, scheme):
            resized = resize_shorter(images, scale)
            for square_name, square in _squares(resized):
                for position, crop in _five_crops(square, c):
                    crops.append(crop)
                    labels.append(CropLabel(scale, square_name, position, False))
                crops.append(resize(square, (c, c)) if square.shape[-1] != c else square)
                labels.append(CropLabel(scale, square_name, "full", False))
    else:
        (scale,) = scales_for(c, scheme)
        resized = resize_shorter(images, scale)
        for position, crop in _five_crops(resized, c):
            if scheme == "1" and position != "center":
                continue
            crops.append(crop)
            labels.append(CropLabel(scale, "whole", position, False))
    out = torch.stack(crops, dim=1)
    if mirror and scheme != "1":
        out = torch.cat([out, out.flip(-1)], dim=1)
        labels = labels + [lab._replace(mirror=True) for lab in labels]
    return out.contiguous(), labels


def multi_crop(image, scheme: str = "144", crop_size: int = PAPER_CROP_SIZE, mirror: bool = True,
               return_labels: bool = False):
    """The test crops of §7 for one image.

    Args:
        image: a PIL image, a file path, a numpy array or a tensor (see :func:`utils.network.images.as_image`);
            grayscale and RGBA are converted to RGB, landscape and portrait both work, and images
            smaller than the scales are upscaled.
        scheme: ``"144"`` (4 scales x 3 squares x 6 crops x 2 mirrors), ``"10"`` or ``"1"``.
        crop_size: side of each crop (224 in the paper); the scales follow in proportion.
        mirror: include mirrored crops (144 and 10 become 72 and 5 without).
        return_labels: also return one :class:`CropLabel` per crop.

    Returns:
        a tensor of shape (n, 3, crop_size, crop_size), and the labels if ``return_labels``.
    """
    crops, labels = multi_crop_batch(as_image(image).unsqueeze(0), scheme, crop_size, mirror)
    return (crops[0], labels) if return_labels else crops[0]


def crop_mosaic(crops: torch.Tensor, labels: list[CropLabel], thumb: int = 64):
    """Lay the 144 crops out as one image for display: a row per (scale, square), a column per
    (position, mirror).

    Args:
        crops, labels: the output of ``multi_crop(..., return_labels=True)`` for scheme "144".
        thumb: side in pixels of each crop in the mosaic.

    Returns:
        ``(mosaic, row_names, col_names)``: a (3, rows * thumb, cols * thumb) tensor and the names
        of its rows ("256/left") and columns ("top-left", ..., "full", "top-left (m)", ...).
    """
    rows = list(dict.fromkeys((lab.scale, lab.square) for lab in labels))
    cols = list(dict.fromkeys((lab.position, lab.mirror) for lab in labels))
    small = resize(crops, (thumb, thumb)) if crops.shape[-1] != thumb else crops
    mosaic = torch.zeros(3, len(rows) * thumb, len(cols) * thumb)
    for crop, lab in zip(small, labels, strict=True):
        r, c = rows.index((lab.scale, lab.square)), cols.index((lab.position, lab.mirror))
        mosaic[:, r * thumb:(r + 1) * thumb, c * thumb:(c + 1) * thumb] = crop
    row_names = [f"{scale}/{square}" for scale, square in rows]
    col_names = [position + (" (m)" if mirror else "") for position, mirror in cols]
    return mosaic, row_names, col_names
