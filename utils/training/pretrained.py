"""Trained weights, found and loaded in one place: the registry every notebook and command chooses weights by.

Four kinds of weights fit GoogLeNet here (:data:`utils.network.weights_info.KINDS`):

* ``"bvlc"``: BVLC's GoogLeNet, the Caffe model zoo's ImageNet reproduction of §5, converted to the paper
  variant (:func:`utils.network.caffe.load_bvlc_googlenet`; ``python -m utils download-bvlc`` fetches it);
* ``"imagenet"``: torchvision's ImageNet weights for its variant (:func:`utils.network.weights.find_imagenet_weights`:
  a file named, ``$GOOGLENET_WEIGHTS`` or torchvision's cache);
* ``"shipped"``: the Imagenette model shipped in ``assets/`` (:func:`utils.network.shipped.load_shipped`);
* ``"checkpoint"``: a checkpoint a training run of this project wrote (``final.pt``, a snapshot, ``last.pt``).

:func:`load` turns a :class:`Found` file into ``(model, info)``: the network in eval mode and its
:class:`~utils.network.weights_info.WeightsInfo`, the same typed description for every kind. The entry points
differ only in the order they look in: :func:`reader_model` (the network notebook 06 looks inside: BVLC's, else
torchvision's, else the shipped model), :func:`load_model` (the ``activations`` command: a file it is given, else
the reader's, else the notebooks' MNIST model), :func:`photo_model` (the Imagenette network of notebooks 02, 04
and 05: the shipped model, else the newest checkpoint of its training run) and :func:`load_snapshot` (one
checkpoint). The module sits with training because its last resort is a training run. Nothing is trained or
downloaded here: when no weights are on disk the error says how to get some.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..network.arch import IMAGENET_MEAN, IMAGENET_STD, INPUT_SIZE
from ..network.weights_info import KINDS, WeightsInfo

READER_KINDS = ("bvlc", "imagenet", "shipped")  # the order the reader gets them in


@dataclass(frozen=True)
class Found:
    """A weights file on disk and how to load it: ``kind`` is one of :data:`~utils.network.weights_info.KINDS`."""

    kind: str
    path: Path

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown weights kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        object.__setattr__(self, "path", Path(self.path))


# ----------------------------------------------------------------------------------------------
# finding


def candidates(bvlc: str | os.PathLike | None = None, imagenet: str | os.PathLike | None = None,
               shipped: str | os.PathLike | None = None) -> list[Found]:
    """Every weights file of :data:`READER_KINDS` that is on disk, in the order the reader gets them.

    Args:
        bvlc, imagenet, shipped: look there instead of the default place of that kind (the default
            places: :func:`utils.network.caffe.bvlc_weights_path`, :func:`utils.network.weights.find_imagenet_weights`,
            :data:`utils.network.shipped.SHIPPED`). A path that is not a file counts as absent.
    """
    from ..network.caffe import bvlc_weights_path
    from ..network.shipped import SHIPPED
    from ..network.weights import find_imagenet_weights

    places = (("bvlc", Path(bvlc) if bvlc is not None else bvlc_weights_path()),
              ("imagenet", Path(imagenet) if imagenet is not None else find_imagenet_weights()),
              ("shipped", Path(shipped) if shipped is not None else SHIPPED))
    return [Found(kind, Path(path)) for kind, path in places if path is not None and Path(path).is_file()]


def _project_checkpoint(quick: bool | None) -> Path:
    """Where :func:`utils.training.cache.default_model` keeps the notebooks' MNIST model."""
    from ..paths import RUNS, quick_mode

    quick = quick_mode() if quick is None else quick
    return RUNS / ("mnist_paper_seed0" + ("_quick" if quick else "")) / "final.pt"


def find_weights(weights: str | Path | None = None, quick: bool | None = None) -> Found | None:
    """The weights :func:`load_model` uses, first found in this order, or ``None``:

    1. ``weights``, a file the caller names (torchvision's layout);
    2. the reader's (:func:`candidates`: BVLC's, torchvision's ImageNet weights, the shipped model);
    3. the notebooks' MNIST model, if a training run left it on disk.

    Raises:
        FileNotFoundError: ``weights`` is given but does not exist.
    """
    from ..network.weights import find_imagenet_weights

    if weights is not None:
        found = find_imagenet_weights(weights)
        if found is None:
            raise FileNotFoundError(f"weights file {str(weights)!r} does not exist; check the path")
        return Found("imagenet", found)
    found = candidates()
    if found:
        return found[0]
    project = _project_checkpoint(quick)
    return Found("checkpoint", project) if project.is_file() else None


# ----------------------------------------------------------------------------------------------
# loading: one handler per kind


def load(found: Found, weights: str = "averaged") -> tuple[nn.Module, WeightsInfo]:
    """The network in ``found`` in eval mode, and its description.

    Args:
        weights: for a checkpoint, ``"averaged"`` (the Polyak average, §6's inference model) or ``"model"``
            (the raw SGD weights); the other kinds hold one set of weights.
    """
    return LOADERS[found.kind](found.path, weights)


def _bvlc(path: Path, weights: str) -> tuple[nn.Module, WeightsInfo]:
    from ..network.caffe import CAFFE_MEAN, CAFFE_STD, load_bvlc_googlenet
    from ..network.weights import imagenet_categories

    model, _ = load_bvlc_googlenet(path)
    # Caffe's input, x * 255 - mean (RGB), written as a normalisation: (x - mean / 255) / (1 / 255)
    return model.eval(), WeightsInfo(
        variant="paper", classes=imagenet_categories(), aux_logits=True, image_size=INPUT_SIZE,
        mean=CAFFE_MEAN, std=CAFFE_STD, dataset="imagenet", kind="bvlc", path=path, name="BVLC GoogLeNet",
        source=f"BVLC GoogLeNet, ImageNet weights from the Caffe model zoo, paper variant ({path})")


def _imagenet(path: Path, weights: str) -> tuple[nn.Module, WeightsInfo]:
    from ..network.weights import imagenet_categories, pretrained_googlenet, torchvision_weights

    model = pretrained_googlenet(path, download=False)
    published = torchvision_weights()  # torchvision's own record of these weights: accuracy and transforms
    transform = published.transforms()
    crop, resize = int(transform.crop_size[0]), int(transform.resize_size[0])
    return model.eval(), WeightsInfo(
        variant="torchvision", classes=imagenet_categories(), aux_logits=False, image_size=crop,
        mean=IMAGENET_MEAN, std=IMAGENET_STD, eval_crop_fraction=crop / resize,
        eval_protocol=(f"torchvision's: shorter side resized to {resize} px ({transform.interpolation.value}), "
                       f"centre {crop}x{crop} crop, (x / 255 - mean) / std, argmax over classes"),
        val_top1=published.meta["_metrics"]["ImageNet-1K"]["acc@1"] / 100, val_images=50_000, dataset="imagenet",
        kind="imagenet", path=path, name="torchvision IMAGENET1K_V1",
        source=f"torchvision's ImageNet weights (IMAGENET1K_V1), torchvision variant ({path})")


def _shipped(path: Path, weights: str) -> tuple[nn.Module, WeightsInfo]:
    from ..network.shipped import load_shipped

    model, info = load_shipped(path)
    return model.eval(), info


def _checkpoint(path: Path, weights: str) -> tuple[nn.Module, WeightsInfo]:
    from .checkpoint import load_checkpoint

    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train with `python -m utils train --dataset imagenette`")
    return from_checkpoint(load_checkpoint(path), path, weights)  # a clear error for junk or non-finite files


LOADERS: dict[str, Callable[[Path, str], tuple[nn.Module, WeightsInfo]]] = {
    "bvlc": _bvlc, "imagenet": _imagenet, "shipped": _shipped, "checkpoint": _checkpoint}


def from_checkpoint(state: dict, path: str | Path, weights: str = "averaged") -> tuple[nn.Module, WeightsInfo]:
    """The network and description of a checkpoint already read (:func:`utils.training.checkpoint.load_checkpoint`).

    Raises:
        ValueError: ``weights`` is not ``"averaged"`` or ``"model"``, or the checkpoint lacks what it needs.
    """
    from .loop import checkpoint_model

    if weights not in ("averaged", "model"):
        raise ValueError(f"weights must be 'averaged' or 'model', got {weights!r}")
    missing = [k for k in (weights, "variant", "classes", "image_size", "mean", "std")
               if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"{path} is not a training checkpoint with {weights} weights (it lacks {', '.join(missing)}); "
                         "pass a snapshot or final.pt that `python -m utils train` wrote")
    return checkpoint_model(state, weights), checkpoint_info(state, path, weights)


def checkpoint_info(state: dict, path: str | Path, weights: str = "averaged") -> WeightsInfo:
    """The description of a training checkpoint's ``weights`` (``"averaged"`` or ``"model"``)."""
    from .imagenette import NAMES, WNIDS

    path = Path(path)
    history = list(state.get("history") or [])
    last = history[-1] if history else {}
    epoch = int(round(last.get("epoch", state.get("epoch", 0)) or 0))
    top1 = last.get("val_acc_polyak") if weights == "averaged" else last.get("val_acc")
    config = dict(state.get("config") or {})
    classes = [str(c) for c in state["classes"]]
    words = dict(zip(WNIDS, NAMES, strict=True))
    dataset = state.get("dataset")
    accuracy = f"val top-1 {top1:.1%}" if top1 is not None else "no validation accuracy recorded"
    return WeightsInfo(
        variant=str(state["variant"]), classes=classes, names=[words.get(c, c) for c in classes], aux_logits=True,
        image_size=int(state["image_size"]), train_image_size=int(state["image_size"]),
        mean=tuple(state["mean"]), std=tuple(state["std"]),
        eval_crop_fraction=float(config.get("eval_crop_fraction", 0.875)), val_top1=top1, dataset=dataset,
        weights="Polyak-averaged (§6)" if weights == "averaged" else "raw SGD weights (not the Polyak average)",
        recipe=config or None, history=history or None, training_seconds=last.get("seconds"), epoch=epoch,
        val_top1_raw=last.get("val_acc"), kind="checkpoint", path=path,
        name=f"snapshot after epoch {epoch} of runs/{path.parent.name} ({weights} weights)",
        source=(f"the {state['variant']} variant trained on {dataset or 'photos'} by this project ({accuracy} "
                f"after epoch {epoch}; {_relative(path)}, {weights} weights)"))


def _relative(path: Path) -> str:
    from ..paths import RUNS

    path = Path(path).resolve()
    try:
        return path.relative_to(RUNS.resolve().parent).as_posix()
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------------------------
# the entry points


def reader_model(bvlc: str | os.PathLike | None = None, imagenet: str | os.PathLike | None = None,
                 shipped: str | os.PathLike | None = None) -> tuple[nn.Module, WeightsInfo]:
    """The network the reader sees, in eval mode, and its description: the first of :func:`candidates`.

    Raises:
        FileNotFoundError: none of the three is on disk; the message says how to get each.
    """
    found = candidates(bvlc, imagenet, shipped)
    if not found:
        from ..network.shipped import SHIPPED

        raise FileNotFoundError(
            f"no trained GoogLeNet on this machine: the shipped model {SHIPPED} is missing (restore it with "
            "`git checkout -- assets/`), and there are no BVLC weights (`python -m utils download-bvlc`) "
            "or torchvision ImageNet weights (set GOOGLENET_WEIGHTS to googlenet-1378be20.pth)")
    return load(found[0])


def load_model(weights: str | Path | None = None, quick: bool | None = None) -> tuple[nn.Module, WeightsInfo]:
    """The network the ``activations`` command inspects, in eval mode, and its description (:func:`find_weights`).

    Raises:
        FileNotFoundError: no weights on disk; the message says how to get some.
    """
    found = find_weights(weights, quick)
    if found is None:
        raise FileNotFoundError(
            "no trained GoogLeNet on disk: pass --weights FILE (torchvision's googlenet layout), set "
            "GOOGLENET_WEIGHTS, or train the project's model with `python -m utils train --variant paper`")
    return load(found)


def photo_model(prefer_shipped: bool = True, run: str | None = None) -> tuple[nn.Module, WeightsInfo]:
    """The trained Imagenette network in eval mode, and its description.

    The shipped model when its files are present, otherwise the newest checkpoint of ``run`` (default: the
    run the shipped model comes from; :func:`utils.training.photo_training.run_checkpoints`), its
    Polyak-averaged weights. ``info.name`` names the one used.

    Raises:
        FileNotFoundError: neither is there, with the commands that train the model.
    """
    from ..network.shipped import SHIPPED
    from .photo_training import RUN_NAME, TRAIN_COMMANDS, run_checkpoints

    run = run or RUN_NAME
    if prefer_shipped:
        try:
            return load(Found("shipped", SHIPPED))
        except FileNotFoundError:
            pass
    found = run_checkpoints(run)
    if not found:
        from . import photo_training

        raise FileNotFoundError(f"no trained Imagenette model: neither the shipped model in assets/ nor a "
                                f"checkpoint under {photo_training.RUNS / run}; train one with `{TRAIN_COMMANDS[0]}` "
                                f"(about an hour on 2 CPU cores), then `{TRAIN_COMMANDS[1]}` (40 minutes more), "
                                f"`{TRAIN_COMMANDS[2]}` and `{TRAIN_COMMANDS[3]}` (40 minutes more)")
    return load(Found("checkpoint", found[0]))


def load_snapshot(path: str | Path, weights: str = "averaged") -> tuple[nn.Module, WeightsInfo]:
    """A training checkpoint (a snapshot, ``final.pt``) as a model in eval mode and its description.

    Args:
        weights: ``"averaged"`` (the Polyak average, §6's inference model) or ``"model"`` (raw).
    """
    if weights not in ("averaged", "model"):
        raise ValueError(f"weights must be 'averaged' or 'model', got {weights!r}")
    return load(Found("checkpoint", Path(path)), weights)
