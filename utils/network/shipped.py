"""The shipped Imagenette model: the paper variant (§5, Figure 3) trained on photos, as a small file.

A shipped model is an fp16 state dict under ``assets/`` with a JSON manifest beside it (written by
:mod:`utils.training.export`, since shipping a finished run is training's job). The manifest names the
one protocol its ``val_top1`` was measured by (:func:`utils.network.images.protocol_input`): every
validation photo resized (bilinear, antialiased) to ``round(image_size / eval_crop_fraction)`` pixels on
its shorter side, the centre ``image_size`` square, normalised by ``mean`` / ``std``, argmax over ``classes``.
The manifest is the weights' :class:`~utils.network.weights_info.WeightsInfo` written to JSON.

:func:`load_shipped` reads the manifest, refuses a file whose SHA-256 differs from it, and returns
the network in eval mode. fp16 halves the file (the 10-class paper variant has 10.3 M parameters,
4.4 M of them in the two auxiliary heads); the auxiliary heads, which §5 discards at inference, are
dropped when the file would otherwise exceed :data:`MAX_BYTES`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
from torch import nn

from ..files import file_digest
from ..paths import ASSETS
from .weights_info import WeightsInfo

SHIPPED = ASSETS / "googlenet_imagenette.pt"
MAX_BYTES = 16 * 1024 * 1024  # the budget for a file kept in the repository
AUX_PREFIXES = ("aux1.", "aux2.")


# ----------------------------------------------------------------------------- small helpers
def manifest_path(path: str | os.PathLike) -> Path:
    """The JSON manifest beside a shipped ``.pt`` file (same name, ``.json``)."""
    return Path(path).with_suffix(".json")


def averaged_weights(state: dict) -> dict[str, torch.Tensor]:
    """The Polyak-averaged network of a training checkpoint (utils.training.train's ``final.pt``) as a plain
    state dict: ``AveragedModel``'s ``module.`` prefix removed, its ``n_averaged`` counter dropped."""
    if "averaged" not in state:
        raise ValueError("the checkpoint holds no Polyak-averaged weights ('averaged'); it was trained with "
                         "polyak=False, so there is no §6 final model to ship")
    return {k.removeprefix("module."): v for k, v in state["averaged"].items() if k.startswith("module.")}


def to_fp16(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors as fp16, contiguous (integer buffers such as BN's counter stay as they are)."""
    return {k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous().clone()
            for k, v in weights.items()}


def _bytes_of(weights: dict[str, torch.Tensor]) -> int:
    return sum(v.numel() * v.element_size() for v in weights.values())


def build(variant: str, num_classes: int, weights: dict[str, torch.Tensor]) -> nn.Module:
    """The network for a shipped state dict, in float32 and eval mode (aux heads only if it has them)."""
    from .model import googlenet
    from .weights import load_into

    aux = any(k.startswith(AUX_PREFIXES) for k in weights)
    model = googlenet(variant, num_classes=num_classes, aux_logits=aux, transform_input=False)
    load_into(model, {k: v.float() if v.is_floating_point() else v for k, v in weights.items()}, "shipped model")
    return model.eval()


# ----------------------------------------------------------------------------- load
def _is_number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def check_manifest(meta, man: Path) -> None:
    """Refuse a manifest whose fields a loader relies on are missing or out of range; the message names
    the file and the field (a manifest is data: it can be edited, and its sha256 recomputed)."""
    def field(name: str, ok, expected: str) -> None:
        if name not in meta:
            raise ValueError(f"manifest {man} lacks the field {name!r} ({expected}); export the run again with "
                             "`python -m utils export-model`")
        if not ok(meta[name]):
            raise ValueError(f"manifest {man}: {name} is {json.dumps(meta[name])[:80]}, expected {expected}")

    if not isinstance(meta, dict):
        raise ValueError(f"manifest {man} holds a JSON {type(meta).__name__}, not an object of fields")
    field("sha256", lambda v: isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v),
          "the file's SHA-256 as 64 hex digits")
    field("variant", lambda v: v in ("paper", "torchvision"), "'paper' or 'torchvision'")
    field("num_classes", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "a whole number >= 1")
    n = meta["num_classes"]
    field("classes", lambda v: isinstance(v, list) and len(v) == n and all(isinstance(c, str) for c in v),
          f"a list of {n} class names")
    if "names" in meta:
        field("names", lambda v: isinstance(v, list) and len(v) == n and all(isinstance(c, str) for c in v),
              f"a list of {n} readable names")
    field("image_size", lambda v: isinstance(v, int) and not isinstance(v, bool) and 32 <= v <= 4096,
          "a whole number of pixels from 32 to 4096")
    field("mean", lambda v: isinstance(v, list) and len(v) == 3 and all(_is_number(x) and 0 <= x <= 1 for x in v),
          "three numbers in [0, 1], one per RGB channel")
    field("std", lambda v: isinstance(v, list) and len(v) == 3 and all(_is_number(x) and x > 0 for x in v),
          "three numbers > 0, one per RGB channel")
    field("eval_crop_fraction", lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]")
    if meta.get("val_top1") is not None:
        field("val_top1", lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]")


def load_shipped(path: str | os.PathLike | None = None) -> tuple[nn.Module, dict]:
    """The shipped network in eval mode (float32) and its manifest, after checking the file's SHA-256.

    Args:
        path: the ``.pt`` file (default ``assets/googlenet_imagenette.pt``); its manifest is the
            ``.json`` beside it.

    Returns:
        ``(model, info)``: ``info`` is the manifest as a :class:`~utils.network.weights_info.WeightsInfo`
        (:func:`describe`), which also says where the file is.

    Raises:
        FileNotFoundError: the file or its manifest is missing (the message says how to get them).
        ValueError: the manifest is not JSON or a field is missing or out of range (:func:`check_manifest`);
            the file's SHA-256 differs from the manifest's (a damaged or replaced file); the file is not a
            state dict or holds NaN or infinite weights.
    """
    path = Path(path) if path is not None else SHIPPED
    man = manifest_path(path)
    how = (f"it comes with the repository (restore it with `git checkout -- {path.name} {man.name}` in "
           f"{path.parent}), or export a finished training run with `python -m utils export-model RUN_DIR "
           f"--out {path}`")
    for f in (path, man):
        if not f.is_file():
            raise FileNotFoundError(f"no shipped model file {f}; {how}")
    try:
        meta = json.loads(man.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"manifest {man} is not valid JSON ({exc}); {how}") from None
    check_manifest(meta, man)
    got = file_digest(path)
    if got != meta.get("sha256"):
        raise ValueError(f"{path} has SHA-256 {got[:16]}..., but its manifest {man.name} expects "
                         f"{str(meta.get('sha256'))[:16]}...: the file is damaged or not the one the manifest "
                         f"describes; {how}")
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a torch file: its manifest was written for another file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{path} is not a readable weights file ({first[:160]}); {how}") from None
    if not isinstance(weights, dict) or not weights or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()):
        raise ValueError(f"{path} does not hold a state dict (names -> tensors); {how}")
    bad = [k for k, v in weights.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(f"{path} holds NaN or infinite weights ({', '.join(bad[:3])}"
                         f"{f' +{len(bad) - 3} more' if len(bad) > 3 else ''}); {how}")
    model = build(meta["variant"], int(meta["num_classes"]), weights)
    return model, describe(meta, path)


def describe(manifest: dict, path: Path) -> WeightsInfo:
    """The manifest of the shipped file at ``path`` as its :class:`~utils.network.weights_info.WeightsInfo`."""
    try:
        return WeightsInfo.from_json(
            manifest, kind="shipped", path=path, name=f"shipped model ({path.parent.name}/)",
            source=(f"the shipped Imagenette model, {manifest['variant']} variant trained by this project on "
                    f"{manifest['num_classes']} ImageNet classes (val top-1 "
                    + (f"{manifest['val_top1']:.1%}" if manifest.get("val_top1") is not None else "not measured")
                    + f" at {manifest['image_size']} px; {path.name})"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"manifest {manifest_path(path)}: {exc}") from None
