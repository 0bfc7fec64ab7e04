"""What a set of trained weights is: one typed description, as torchvision's ``Weights`` and timm's ``pretrained_cfg``.

Every way of choosing trained weights (BVLC's Caffe model, torchvision's ImageNet weights, the shipped
Imagenette model, a training run's checkpoint; :mod:`utils.training.pretrained` finds and loads them) returns
a :class:`WeightsInfo`. It says where the weights come from, which network they fit (variant, classes with their
readable names), the input they expect (size, mean and std, the preprocessing in words) and the accuracy
measured with them together with the protocol it was measured by. The shipped model's JSON manifest
(``assets/googlenet_imagenette.json``) is this description written to JSON (:meth:`WeightsInfo.to_json`).

A description reads like the dictionaries it replaces (``info["image_size"]``, ``info.get("val_top1")``): it is
a read-only mapping of its field names to their values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from .arch import IMAGENET_MEAN, IMAGENET_STD
from .images import normalise

# Where a description's weights were found: not what the weights are, so never written to a manifest.
WHERE = ("kind", "name", "source", "path")
KINDS = ("bvlc", "imagenet", "shipped", "checkpoint")


@dataclass(frozen=True, eq=True)
class WeightsInfo(Mapping):
    """One set of trained GoogLeNet weights: what they are, what they expect, how well they do.

    The fields from ``file`` to ``training_seconds`` are the shipped manifest's, in its order; a field that is
    ``None`` is unknown for these weights and is not written. The last four (:data:`WHERE`) say where this
    copy was found.
    """

    # the file (a shipped model's; a description of other weights leaves them None)
    file: str | None = None
    sha256: str | None = None
    bytes: int | None = None
    format: str | None = None
    # the network the weights fit
    variant: str = "paper"
    num_classes: int = 0
    classes: tuple[str, ...] = ()  # class identifiers in logit order: WordNet ids where known
    names: tuple[str, ...] = ()  # the same classes in words
    aux_logits: bool | None = None
    # the input and the evaluation protocol
    image_size: int = 224
    train_image_size: int | None = None
    image_size_selected_on: str | None = None
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    eval_crop_fraction: float = 0.875
    eval_protocol: str | None = None  # the preprocessing and the scoring, in words
    # the accuracy measured by that protocol
    val_top1: float | None = None
    val_images: int | None = None
    val_correct: int | None = None
    dataset: str | None = None
    # how the weights were made
    weights: str | None = None  # which weights of the run: Polyak-averaged (§6) or raw
    command: str | None = None
    recipe: dict | None = None
    history: list | None = None
    stages: list | None = None
    training_seconds: float | None = None
    epoch: int | None = None  # a checkpoint's: after which epoch
    val_top1_raw: float | None = None  # a checkpoint's: the raw (not averaged) weights' accuracy
    # where this copy was found (WHERE)
    kind: str | None = None  # one of KINDS
    name: str | None = None  # a short name for tables ("shipped model (assets/)")
    source: str | None = None  # one line for the reader: which weights, trained on what, how good
    path: Path | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"unknown weights kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        for name in ("classes", "names", "mean", "std"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.names:
            object.__setattr__(self, "names", self.classes)
        if not self.num_classes:
            object.__setattr__(self, "num_classes", len(self.classes))
        if len(self.names) != len(self.classes) or self.num_classes != len(self.classes):
            raise ValueError(f"the weights have {self.num_classes} classes, {len(self.classes)} class ids and "
                             f"{len(self.names)} names; the three must agree")
        if self.path is not None:
            object.__setattr__(self, "path", Path(self.path))

    # ------------------------------------------------------------------ a read-only mapping of the fields
    def __getitem__(self, key: str):
        if key not in _FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(_FIELDS)

    def __len__(self) -> int:
        return len(_FIELDS)

    __hash__ = None  # lists inside (history, recipe): not hashable

    # ------------------------------------------------------------------ the input
    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB in [0, 1] -> the network's input: the normalisation by ``mean`` / ``std``."""
        return normalise(x, self.mean, self.std)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        """The description as the manifest holds it: every field that is not ``None``, except :data:`WHERE`."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in WHERE or value is None:
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as the manifest's text (two-space indent, UTF-8 kept, a final newline)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, manifest: str | Mapping, **where) -> WeightsInfo:
        """A manifest (its text or its parsed object) as a description; ``where`` sets :data:`WHERE` fields.

        Raises:
            ValueError: the text is not JSON, or the manifest has a field this description does not know.
        """
        if isinstance(manifest, str):
            manifest = json.loads(manifest)
        unknown = [k for k in manifest if k not in _FIELDS or k in WHERE]
        if unknown:
            raise ValueError(f"the manifest has fields a weights description does not know: {', '.join(unknown)}; "
                             f"known: {', '.join(k for k in _FIELDS if k not in WHERE)}")
        return cls(**dict(manifest), **where)


_FIELDS = tuple(f.name for f in fields(WeightsInfo))
