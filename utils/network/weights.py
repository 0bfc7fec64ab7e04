"""Loading weights into GoogLeNet: ImageNet weights (torchvision variant) and the project's checkpoints.

ImageNet weights come from a local file, or from torchvision's weights API, which looks in its
cache first and downloads only when the network allows. Every load uses
``torch.load(..., weights_only=True)``, and a file that does not fit the model gets an error that
names the missing and unexpected keys and the mismatched shapes.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .model import GoogLeNet, googlenet


class WeightsError(ValueError):
    """A weights file that cannot be loaded into the model; the message says why."""


class WeightsUnavailable(RuntimeError):
    """ImageNet weights are neither on disk nor downloadable; the message says what to do."""


def torchvision_weights():
    """torchvision's record of its ImageNet GoogLeNet weights (``GoogLeNet_Weights.IMAGENET1K_V1``)."""
    from torchvision.models import GoogLeNet_Weights

    return GoogLeNet_Weights.IMAGENET1K_V1


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names in torchvision's order (shipped with torchvision, offline)."""
    return list(torchvision_weights().meta["categories"])


def torchvision_cache_path() -> Path:
    """Where torchvision's weights API keeps the ImageNet GoogLeNet file once downloaded."""
    url = torchvision_weights().url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def find_imagenet_weights(path: str | os.PathLike | None = None) -> Path | None:
    """The ImageNet weights file to use without touching the network, or ``None``.

    Looks at ``path`` if given, then at ``$GOOGLENET_WEIGHTS``, then at torchvision's cache.
    """
    for what, candidate in (("weights", path), ("GOOGLENET_WEIGHTS", os.environ.get("GOOGLENET_WEIGHTS"))):
        if candidate and Path(candidate).is_dir():  # a folder would otherwise be skipped without a word
            raise ValueError(f"{what} {str(candidate)!r} is a folder; name the weights file inside it")
    for candidate in (path, os.environ.get("GOOGLENET_WEIGHTS"), torchvision_cache_path()):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from ``path`` safely (``weights_only=True``).

    Accepts a bare state dict or a training checkpoint holding one under ``"model"``.

    Raises:
        FileNotFoundError: the file does not exist.
        WeightsError: the file is not a PyTorch weights file, or holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist; check the path")
    if path.stat().st_size == 0:
        raise WeightsError(f"weights file {str(path)!r} is empty (0 bytes); download or save it again")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise WeightsError(f"{str(path)!r} is not a PyTorch weights file that loads with "
                           f"weights_only=True ({type(exc).__name__}: {first})") from None
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{str(path)!r} holds a {type(obj).__name__}, not a state dict of tensors; "
                           "save weights with torch.save(model.state_dict(), path)")
    return obj


def load_into(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str = "state dict") -> None:
    """Load ``state_dict`` into ``model`` strictly, explaining any mismatch in one message.

    Raises:
        WeightsError: listing missing keys, unexpected keys and shape mismatches.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state_dict and state_dict[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        def few(items):
            return ", ".join(items[:8]) + (f" (+{len(items) - 8} more)" if len(items) > 8 else "")

        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys: {few(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys: {few(unexpected)}")
        if shapes:
            parts.append(f"{len(shapes)} mismatched shapes: {few(shapes)}")
        variant = getattr(getattr(model, "variant", None), "name", "?")
        raise WeightsError(f"{source} does not fit GoogLeNet (variant={variant!r}, "
                           f"num_classes={getattr(model, 'num_classes', '?')}): " + "; ".join(parts)
                           + ". Check the variant, num_classes and aux_logits the weights were made for.")
    model.load_state_dict(state_dict, strict=True)


def imagenet_state_dict(path: str | os.PathLike | None = None, download: bool = True) -> dict:
    """torchvision's ImageNet GoogLeNet weights (IMAGENET1K_V1): from a local file or the weights API.

    Raises:
        WeightsUnavailable: no local file and no network; one line says how to get the file.
    """
    found = find_imagenet_weights(path)
    if path is not None and found != Path(path):
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist; check the path")
    if found is not None:
        return read_state_dict(found)
    if download:
        try:
            return torchvision_weights().get_state_dict(progress=True, check_hash=True)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    else:
        reason = "download disabled"
    raise WeightsUnavailable(
        f"ImageNet weights for GoogLeNet are not on this machine and could not be downloaded ({reason}); "
        f"put {os.path.basename(torchvision_weights().url)} in {torchvision_cache_path().parent} "
        "or pass its path (or set GOOGLENET_WEIGHTS)")


def pretrained_googlenet(path: str | os.PathLike | None = None, aux_logits: bool = False,
                         download: bool = True) -> GoogLeNet:
    """The torchvision variant with ImageNet weights, in eval mode.

    The file carries (untrained) auxiliary heads, as torchvision's does; they are dropped unless
    ``aux_logits=True``.
    """
    model = googlenet("torchvision", num_classes=1000, aux_logits=True)
    load_into(model, imagenet_state_dict(path, download=download), source=str(path or "ImageNet weights"))
    if not aux_logits:
        model.aux1 = model.aux2 = None
        model.aux_logits = False
    return model.eval()
