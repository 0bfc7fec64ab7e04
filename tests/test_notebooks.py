"""Every notebook runs top to bottom in a fresh kernel, in quick mode (GOOGLENET_QUICK=1)."""

from __future__ import annotations

import os

import pytest
import torch

from utils.paths import NOTEBOOKS
from utils.presentation.notebook_exec import execute

NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("*.ipynb"))


@pytest.fixture(scope="module")
def quick_mnist_model():
    """Train (or load) the quick-mode MNIST model once, so no notebook's time includes training it."""
    from utils.training.cache import default_model

    torch.set_num_threads(2)
    return default_model("paper", seed=0, quick=True)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=[p.stem for p in NOTEBOOK_FILES])
def test_notebook_runs_in_quick_mode(path, quick_mnist_model):
    run = execute(path, quick=True, timeout=600)
    assert not run.errors, f"{path.name} produced error output: {run.errors}"
    print(f"{path.name}: {run.seconds:.1f} s in quick mode")
    assert run.seconds < float(os.environ.get("GOOGLENET_NOTEBOOK_BUDGET_S", "600"))


@pytest.mark.notebook
def test_the_quick_model_the_notebooks_use_has_learnt_the_digits(quick_mnist_model):
    _, info = quick_mnist_model  # chance is 0.10; the quick recipe ends near 0.95
    assert info.val_top1 > 0.9, info.source
