"""The trained network that notebook 06 and the ``activations`` command look inside.

It sits with training because its last resort is a training run of this project.

:func:`find_weights` is the one place that decides which weights are used; :func:`load_model`
builds the network from what it found. Nothing is trained or downloaded here: when no weights
are on disk the error says how to get some.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..network.arch import IMAGENET_MEAN, IMAGENET_STD, INPUT_SIZE


@dataclass(frozen=True)
class FoundWeights:
    """Weights on disk: ``kind`` says how to load them (``"imagenet"``: torchvision's layout and
    classes; ``"project"``: a checkpoint written by :mod:`utils.training.train`), ``path`` where they are."""

    kind: str
    path: Path


def _project_checkpoint(quick: bool | None) -> Path:
    """Where :func:`utils.training.cache.default_model` keeps the project's MNIST model."""
    from ..paths import RUNS, quick_mode

    quick = quick_mode() if quick is None else quick
    return RUNS / ("mnist_paper_seed0" + ("_quick" if quick else "")) / "final.pt"


def find_weights(weights: str | Path | None = None, quick: bool | None = None) -> FoundWeights | None:
    """The weights to inspect, first found in this order, or ``None``:

    1. ``weights``, a file the caller names (torchvision's layout);
    2. ImageNet weights for the torchvision variant: ``$GOOGLENET_WEIGHTS`` or torchvision's cache
       (:func:`utils.network.weights.find_imagenet_weights`);
    3. the project's own MNIST model, if a training run left it on disk.

    BVLC's Caffe weights (converted by :mod:`utils.network.caffe`) belong before 2, and a shipped Imagenette
    model before 3; each is one more ``if`` here returning its :class:`FoundWeights`.

    Raises:
        FileNotFoundError: ``weights`` is given but does not exist.
    """
    from ..network.weights import find_imagenet_weights

    found = find_imagenet_weights(weights)
    if weights is not None and found is None:
        raise FileNotFoundError(f"weights file {str(weights)!r} does not exist; check the path")
    if found is not None:
        return FoundWeights("imagenet", Path(found))
    project = _project_checkpoint(quick)
    if project.is_file():
        return FoundWeights("project", project)
    return None


def load_model(weights: str | Path | None = None, quick: bool | None = None) -> tuple[nn.Module, dict]:
    """The network to inspect, in eval mode, and a description of it (from :func:`find_weights`).

    Returns:
        ``(model, info)``; ``info`` has ``weights`` (one line for the reader), ``dataset``,
        ``variant``, ``classes``, ``image_size``, ``mean``, ``std``.

    Raises:
        FileNotFoundError: no weights on disk; the message says how to get some.
    """
    if weights is None:  # BVLC's, torchvision's ImageNet, or the shipped Imagenette model (utils.network.reader_model)
        from ..network.reader_model import candidates, load

        found = candidates()
        if found:
            return load(found[0])
    found = find_weights(weights, quick)
    if found is None:
        raise FileNotFoundError(
            "no trained GoogLeNet on disk: pass --weights FILE (torchvision's googlenet layout), set "
            "GOOGLENET_WEIGHTS, or train the project's model with `python -m utils train --variant paper`")
    if found.kind == "imagenet":
        from ..network.weights import imagenet_categories, pretrained_googlenet

        model = pretrained_googlenet(found.path, download=False)
        return model.eval(), {"weights": f"ImageNet weights (torchvision variant) from {found.path.name}",
                              "dataset": "imagenet", "variant": "torchvision", "classes": imagenet_categories(),
                              "image_size": INPUT_SIZE, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    from .cache import default_model

    # the checkpoint exists (find_weights checked), so default_model only loads it
    model, meta = default_model(variant="paper", seed=0, quick=quick)
    acc = meta.get("val_accuracy")
    return model.eval(), {
        "weights": (f"paper variant trained on {meta.get('dataset', 'MNIST')} by this project"
                    + (f" (validation accuracy {acc:.1%})" if isinstance(acc, float) else "")),
        "dataset": meta.get("dataset", "mnist"), "variant": "paper", "classes": list(meta.get("classes", [])),
        "image_size": int(meta["image_size"]), "mean": tuple(meta["mean"]), "std": tuple(meta["std"]),
        "meta": meta}
