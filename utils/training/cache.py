"""The MNIST GoogLeNet the notebooks share: trained once on first use, then loaded from ``runs/``.

Notebooks 02, 05 and 06 and the ``activations`` command look inside one trained network. The first
one to need it trains it (§6's recipe as :func:`utils.training.recipe.mnist_recipe` gives it); notebooks that
start meanwhile wait on a file lock instead of training a second copy. What is loaded is checked
against the recipe it should have been trained with, so a trial run left in the cache folder is
never shown as the notebooks' model.
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock
from torch import nn

from ..network.weights_info import WeightsInfo
from ..paths import RUNS, quick_mode
from .checkpoint import load_checkpoint
from .loop import resume_conflicts, train
from .pretrained import from_checkpoint
from .recipe import TrainConfig, mnist_recipe

CACHE_LOCK = "training.lock"  # waited on by notebooks; the run's own lock (utils.training.runs) never waits


def quick_config(seed: int = 0) -> TrainConfig:
    """The short MNIST recipe of quick mode: :func:`utils.training.recipe.mnist_recipe` cut to 6 epochs,
    the same for both variants.

    The paper variant ends near 95% validation accuracy (the 12-epoch recipe passes 97%).
    """
    return mnist_recipe(epochs=6, seed=seed)


def _train_once(path: Path, fit, timeout: float = -1) -> None:
    """Run ``fit()`` unless ``path`` exists; concurrent callers wait on a file lock, then find it there.

    The lock is an ``flock`` (the ``filelock`` package): the kernel drops it when its holder dies
    (kernel restart, Ctrl-C, crash), so a waiting notebook takes over at once.
    """
    path = Path(path)
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_name(CACHE_LOCK), timeout=timeout, is_singleton=True):
        if not path.is_file():  # a concurrent caller may have finished it while we waited
            fit()


def cache_folder(variant: str = "paper", seed: int = 0, quick: bool | None = None) -> Path:
    """``RUNS/mnist_{variant}_seed{seed}`` (``..._quick`` in quick mode): where :func:`default_model` keeps it."""
    quick = quick_mode() if quick is None else quick
    return RUNS / (f"mnist_{variant}_seed{seed}" + ("_quick" if quick else ""))


def _fit(config: TrainConfig, variant: str, out: Path) -> None:
    # A run interrupted on a first use (kernel restart) is continued, not started over; train()
    # refuses it if it was trained with anything but this recipe.
    resume = (out / "last.pt").is_file()
    train(config, variant, "mnist", out, resume=resume, progress=True)


def default_model(variant: str = "paper", seed: int = 0, quick: bool | None = None) -> tuple[nn.Module, WeightsInfo]:
    """The MNIST GoogLeNet the notebooks share, in eval mode, with its description.

    Loads ``RUNS/mnist_{variant}_seed{seed}/final.pt`` (``..._quick/final.pt`` in quick mode); if it
    is missing, trains it first (:func:`utils.training.recipe.mnist_recipe`, or the short recipe of
    :func:`quick_config` in quick mode) and saves it. Quick and full models live in different
    folders, so a full-mode notebook never shows a quick model's numbers.
    Returns the Polyak-averaged weights (§6: the averaged model is the one used at inference).

    Returns:
        ``(model, info)``; ``info`` is the checkpoint's :class:`~utils.network.weights_info.WeightsInfo` as the
        registry describes it (:func:`utils.training.pretrained.from_checkpoint`): ``info.path`` is the
        checkpoint, ``info.val_top1`` the averaged weights' validation accuracy after the last epoch and
        ``info.val_top1_raw`` the raw weights'.

    Raises:
        ValueError: the cached checkpoint was trained on other data, another variant or another
            recipe; the message lists the differences. Nothing is deleted.
    """
    quick = quick_mode() if quick is None else quick
    out = cache_folder(variant, seed, quick)
    path = out / "final.pt"
    config = quick_config(seed) if quick else mnist_recipe(seed=seed)
    _train_once(path, lambda: _fit(config, variant, out))
    state = load_checkpoint(path)
    diffs = resume_conflicts(state, variant, config) if "config" in state else ["no training configuration"]
    if state.get("dataset") != "mnist":
        diffs.insert(0, f"dataset: checkpoint {state.get('dataset')!r}, expected 'mnist'")
    if diffs:
        raise ValueError(f"{path} is not the notebooks' model ({'; '.join(diffs)}); it was trained some "
                         f"other way. Move {out} elsewhere (keep it if you want it) and run again: the "
                         "model is then trained with the notebooks' recipe")
    return from_checkpoint(state, path, "averaged")
