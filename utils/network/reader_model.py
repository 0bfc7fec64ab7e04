"""Which trained GoogLeNet the reader looks inside: the best weights on this machine, never a training run.

The notebooks and the ``activations`` command show a trained network's branches (§4). The first of
these found on disk is used:

1. BVLC's GoogLeNet, the Caffe model zoo's ImageNet reproduction of §5 converted to the paper variant
   (:func:`utils.network.caffe.load_bvlc_googlenet`; ``python -m utils download-bvlc`` fetches it);
2. torchvision's ImageNet weights for its variant (:func:`utils.network.weights.find_imagenet_weights`:
   ``$GOOGLENET_WEIGHTS`` or torchvision's cache);
3. the Imagenette model shipped in ``assets/`` (:func:`utils.network.shipped.load_shipped`), the paper
   variant trained on ten ImageNet classes of photos by this project.

Nothing here trains or downloads: the shipped model comes with the repository, so 3 is always there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .arch import INPUT_SIZE
from .images import IMAGENET_MEAN, IMAGENET_STD, normalise

KINDS = ("bvlc", "imagenet", "shipped")


@dataclass(frozen=True)
class ReaderWeights:
    """A weights file on disk and how to load it: ``kind`` is one of :data:`KINDS`."""

    kind: str
    path: Path


def _bvlc_path() -> Path | None:
    from .caffe import bvlc_weights_path

    return bvlc_weights_path()


def candidates(bvlc: str | os.PathLike | None = None, imagenet: str | os.PathLike | None = None,
               shipped: str | os.PathLike | None = None) -> list[ReaderWeights]:
    """Every weights file of :data:`KINDS` that is on disk, in the order the reader gets them.

    Args:
        bvlc, imagenet, shipped: look there instead of the default place of that kind (the default
            places: :func:`utils.network.caffe.bvlc_weights_path`, :func:`utils.network.weights.find_imagenet_weights`,
            :data:`utils.network.shipped.SHIPPED`). A path that is not a file counts as absent.
    """
    from .shipped import SHIPPED
    from .weights import find_imagenet_weights

    places = (("bvlc", Path(bvlc) if bvlc is not None else _bvlc_path()),
              ("imagenet", Path(imagenet) if imagenet is not None else find_imagenet_weights()),
              ("shipped", Path(shipped) if shipped is not None else SHIPPED))
    return [ReaderWeights(kind, Path(path)) for kind, path in places if path is not None and Path(path).is_file()]


def _normalise(mean, std):
    def preprocess(x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB in [0, 1] -> the network's input."""
        return normalise(x, mean, std)

    return preprocess


def load(found: ReaderWeights) -> tuple[nn.Module, dict]:
    """Build the network for one :class:`ReaderWeights` (see :func:`reader_model` for the returns)."""
    from .weights import imagenet_categories

    if found.kind == "bvlc":
        from .caffe import CAFFE_MEAN, CAFFE_STD, load_bvlc_googlenet

        model, _ = load_bvlc_googlenet(found.path)
        # Caffe's input, x * 255 - mean (RGB), written as a normalisation: (x - mean / 255) / (1 / 255)
        meta = {"source": f"BVLC GoogLeNet, ImageNet weights from the Caffe model zoo, paper variant ({found.path})",
                "dataset": "imagenet", "variant": "paper", "classes": imagenet_categories(),
                "image_size": INPUT_SIZE, "mean": tuple(CAFFE_MEAN), "std": tuple(CAFFE_STD)}
    elif found.kind == "imagenet":
        from .weights import pretrained_googlenet

        model = pretrained_googlenet(found.path, download=False)
        meta = {"source": f"torchvision's ImageNet weights (IMAGENET1K_V1), torchvision variant ({found.path})",
                "dataset": "imagenet", "variant": "torchvision", "classes": imagenet_categories(),
                "image_size": INPUT_SIZE, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    elif found.kind == "shipped":
        from .shipped import load_shipped

        model, man = load_shipped(found.path)
        meta = {"source": (f"the shipped Imagenette model, paper variant trained by this project on "
                           f"{man['num_classes']} ImageNet classes (val top-1 {man['val_top1']:.1%} at "
                           f"{man['image_size']} px; {found.path.name})"),
                "dataset": man["dataset"], "variant": man["variant"], "classes": list(man["names"]),
                "wnids": list(man["classes"]), "image_size": int(man["image_size"]),
                "mean": tuple(man["mean"]), "std": tuple(man["std"]), "manifest": man}
    else:
        raise ValueError(f"unknown weights kind {found.kind!r}; expected one of {', '.join(KINDS)}")
    meta |= {"kind": found.kind, "path": found.path, "weights": meta["source"],
             "preprocess": _normalise(meta["mean"], meta["std"])}
    return model.eval(), meta


def reader_model(bvlc: str | os.PathLike | None = None, imagenet: str | os.PathLike | None = None,
                 shipped: str | os.PathLike | None = None) -> tuple[nn.Module, dict]:
    """The network the reader sees, in eval mode, and what it is: the first of :func:`candidates`.

    Returns:
        ``(model, meta)``. ``meta["source"]`` says in one line which weights these are (also under
        ``"weights"``); ``meta["preprocess"]`` maps an (N, 3, H, W) RGB batch in [0, 1] to the
        network's input, which is the normalisation by ``meta["mean"]`` / ``meta["std"]``; the
        rest: ``kind``, ``path``, ``dataset``, ``variant``, ``classes`` (readable names),
        ``image_size``.

    Raises:
        FileNotFoundError: none of the three is on disk; the message says how to get each.
    """
    found = candidates(bvlc, imagenet, shipped)
    if not found:
        from .shipped import SHIPPED

        raise FileNotFoundError(
            f"no trained GoogLeNet on this machine: the shipped model {SHIPPED} is missing (restore it with "
            "`git checkout -- assets/`), and there are no BVLC weights (`python -m utils download-bvlc`) "
            "or torchvision ImageNet weights (set GOOGLENET_WEIGHTS to googlenet-1378be20.pth)")
    return load(found[0])
