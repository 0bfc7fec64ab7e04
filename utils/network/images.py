"""Images for the network: read a file (every Pillow mode), resize (antialiased), crop, normalise.

Every image that reaches a network here passes through these functions: training and evaluation
(:mod:`utils.training.data`, the Imagenette cache), the protocol of a weights description
(:func:`protocol_input`, the shipped model's ``val_top1``), §7's crops, the ``activations`` command, the
explorer and the atlas. The geometry is torchvision's (``torchvision.transforms.v2.functional``):
``resize`` to a shorter side keeps the aspect ratio with the longer side truncated, as
``Resize(size)`` does, and ``center_crop`` rounds its offset.

Files are decoded with Pillow, which handles the modes a photo may come in (8- and 16-bit, alpha,
palette, CMYK, EXIF orientation); torchvision's own decoders are deprecated.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

__all__ = ["IMAGE_SUFFIXES", "read_image", "read_uint8", "as_image", "to_float", "to_uint8", "resize",
           "resize_shorter", "centre_crop", "normalise", "square", "protocol_input"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
BILINEAR = TF.InterpolationMode.BILINEAR

# Pillow modes read as they are stored, with the divisor that maps them to [0, 1]. Everything else
# goes through Image.convert, whose 8-bit conversions are exact for these modes.
_HIGH_DEPTH = {"I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "I;16N": 65535.0,
               # 32-bit integer images are, in practice, 16-bit PNG and TIFF files (older Pillow
               # opens those as "I"); other ranges are clipped.
               "I": 65535.0,
               # floating-point images (TIFF) are taken as already in [0, 1] and clipped
               "F": 1.0}


# ----------------------------------------------------------------------------- reading
def read_image(path: str | os.PathLike) -> torch.Tensor:
    """An image file as a float tensor (3, H, W) in [0, 1], correct for every Pillow mode.

    Converting to RGB with Pillow alone clips 16-bit images at 255 (a 16-bit grey of mean 0.5 reads
    as almost white) and drops transparency to whatever colour hides under it. Here:

    * 16-bit and 32-bit integer greys ("I;16", "I") are divided by 65535; float greys ("F") are taken
      as [0, 1]; all are repeated to three channels;
    * transparency ("RGBA", "LA", "PA", palette "P" with a transparent colour) is composited on
      white, as a page shows a transparent picture;
    * CMYK is converted with (1 - C)(1 - K) per channel (no colour profile);
    * "1", "L", "P", "RGB", "YCbCr", "HSV" go through Pillow's exact 8-bit conversion;
    * the EXIF orientation of photos is applied; of a multi-frame file the first frame is read.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: ``path`` is a folder, or not an image Pillow can decode (a damaged file).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder, not an image file; pass a .jpg or .png file")
    if not path.is_file():
        raise FileNotFoundError(f"image {str(path)!r} does not exist; check the path")
    try:
        with Image.open(path) as im:
            im.load()
            arr = _to_rgb_array(ImageOps.exif_transpose(im))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"cannot read {str(path)!r} as an image ({type(exc).__name__}); it is damaged or not an "
                         "image: replace it, or pass a JPEG, PNG or other format Pillow can open") from None
    except Image.DecompressionBombError as exc:  # not an OSError: Pillow refuses it before decoding
        raise ValueError(f"{str(path)!r} is too large to read ({exc}); shrink it below "
                         f"{Image.MAX_IMAGE_PIXELS:,} pixels first") from None
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def read_uint8(path: str | os.PathLike) -> torch.Tensor:
    """An image file as uint8 RGB (3, H, W): :func:`read_image` on the 0-255 scale of an 8-bit photo
    (exact for 8-bit files; 16-bit and transparent ones rounded once)."""
    return to_uint8(read_image(path))


def _to_rgb_array(im) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] from a Pillow image of any mode (see :func:`read_image`)."""
    mode = im.mode
    if mode in _HIGH_DEPTH:
        grey = np.asarray(im, dtype=np.float64) / _HIGH_DEPTH[mode]
        return np.repeat(np.clip(grey, 0, 1)[..., None], 3, axis=2).astype(np.float32)
    if mode == "CMYK":
        cmyk = np.asarray(im, dtype=np.float32) / 255
        return (1 - cmyk[..., :3]) * (1 - cmyk[..., 3:4])
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa", "RGBA") or "transparency" in im.info:
        im = im.convert("RGBA")
    elif mode != "RGB":
        try:
            im = im.convert("RGB")
        except ValueError as exc:
            raise OSError(f"mode {mode} cannot be converted to RGB ({exc})") from None
    arr = np.asarray(im, dtype=np.float32) / 255
    return _on_white(arr) if arr.shape[-1] == 4 else arr


def _on_white(rgba):
    """Channels-last RGBA in [0, 1] composited on white: colour * alpha + 1 * (1 - alpha)."""
    alpha = rgba[..., 3:4]
    return rgba[..., :3] * alpha + (1 - alpha)


def as_image(image) -> torch.Tensor:
    """Any single image as a float tensor (3, H, W).

    Accepts a file path (:func:`read_image`), a PIL image of any mode (read as :func:`read_image` reads
    files: 16-bit kept, alpha composited on white), a numpy array (H, W) or (H, W, C), or a tensor
    (H, W) or (C, H, W), with C in 1 (grey, repeated), 3, or 4 (RGBA, composited on white). Integer
    pixels are divided by 255; float pixels are kept as they are.

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: an unreadable file, or an array of a shape that is not one image.
    """
    from PIL import Image

    if isinstance(image, str | os.PathLike):
        return read_image(image)
    if isinstance(image, Image.Image):
        return torch.from_numpy(np.ascontiguousarray(_to_rgb_array(image).transpose(2, 0, 1)))
    if isinstance(image, np.ndarray):
        if image.ndim == 3 and image.shape[-1] in (1, 3, 4):
            image = np.moveaxis(image, -1, 0)  # numpy images are channels-last
        image = torch.from_numpy(np.ascontiguousarray(image))
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"expected a PIL image, a file path, a numpy array or a tensor, got {type(image).__name__}")
    if image.dim() == 2:
        image = image.unsqueeze(0)
    if image.dim() != 3 or image.shape[0] not in (1, 3, 4):
        hint = "; pass one image at a time" if image.dim() == 4 else ""
        raise ValueError(f"expected one image of shape (H, W) or (C, H, W) with C in 1, 3, 4; "
                         f"got shape {tuple(image.shape)}{hint}")
    if min(image.shape[-2:]) < 1:
        raise ValueError(f"image has no pixels: shape {tuple(image.shape)}")
    image = to_float(image) if not image.is_floating_point() else image
    if image.shape[0] == 1:
        return image.expand(3, -1, -1)
    if image.shape[0] == 4:
        return _on_white(image.permute(1, 2, 0)).permute(2, 0, 1).contiguous()
    return image


# ----------------------------------------------------------------------------- pixels
def to_float(image: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (0-255) as float32 in [0, 1]."""
    return image.float() / 255


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """Float pixels in [0, 1] as uint8, rounded to the nearest level (values outside are clipped)."""
    return (image * 255).round_().clamp_(0, 255).to(torch.uint8)


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(..., C, H, W) resized to ``size = (height, width)``: bilinear, antialiased (uint8 or float, kept)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return TF.resize(image, list(size), interpolation=BILINEAR, antialias=True)


def resize_shorter(image: torch.Tensor, size: int) -> torch.Tensor:
    """(..., C, H, W) resized so that its shorter side is ``size``, the aspect ratio kept (the longer side
    truncated to whole pixels, as ``torchvision.transforms.v2.Resize(size)``); bilinear, antialiased.

    uint8 images are resized by torchvision's uint8 kernel; float images in float. Smaller images are
    upscaled; an image whose shorter side is already ``size`` is returned as it is.
    """
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    if min(image.shape[-2:]) == size:
        return image
    return TF.resize(image, [size], interpolation=BILINEAR, antialias=True)


def centre_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """The centre ``size`` x ``size`` square of (..., C, H, W) (torchvision's ``center_crop``: offsets rounded).

    Raises:
        ValueError: the image is smaller than the crop (nothing is padded).
    """
    h, w = image.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"image is {h}x{w}, smaller than the {size}x{size} centre crop; resize it first")
    return TF.center_crop(image, [size, size])


def normalise(image: torch.Tensor, mean, std) -> torch.Tensor:
    """``(x - mean) / std`` per channel of float (..., C, H, W) in [0, 1]; a one-channel ``mean``/``std``
    (MNIST's) applies to every channel, and a one-channel image is repeated to three."""
    mean_t = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)
    out = (image - mean_t) / std_t
    return out.expand(*out.shape[:-3], 3, *out.shape[-2:]).contiguous() if out.shape[-3] == 1 else out


# ----------------------------------------------------------------------------- compositions
def square(image: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (3, H, W) -> its centre square at ``size`` pixels (uint8): the shorter side resized (in float on
    the 0-255 scale, rounded once), then the centre ``size`` square. The Imagenette cache and the photos
    the notebooks show are these squares."""
    resized = resize_shorter(image.float(), size).round_().clamp_(0, 255).to(torch.uint8)
    return centre_crop(resized, size)


def protocol_input(image: torch.Tensor, image_size: int, eval_crop_fraction: float, mean, std) -> torch.Tensor:
    """One photo as a network's input by the evaluation protocol of its weights' description.

    Args:
        image: (3, H, W) uint8 RGB.

    Returns:
        (3, image_size, image_size) float32: shorter side resized to ``round(image_size /
        eval_crop_fraction)`` (bilinear, antialiased, on uint8 as an image file holds it), the centre
        square cropped, then ``(x / 255 - mean) / std``.
    """
    if not 0 < eval_crop_fraction <= 1:
        raise ValueError(f"eval_crop_fraction must be in (0, 1], the share of the resized photo the centre crop "
                         f"keeps (0.875 is the usual), got {eval_crop_fraction}")
    if image_size < 1:
        raise ValueError(f"image_size must be a positive number of pixels, got {image_size}")
    resized = resize_shorter(image, round(image_size / eval_crop_fraction))
    return normalise(to_float(centre_crop(resized, image_size)), mean, std)
