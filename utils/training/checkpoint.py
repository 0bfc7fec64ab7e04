"""Training checkpoints (§6's runs are long; these make them safe to stop and continue).

A checkpoint is a dict of tensors and primitives, written atomically (:func:`utils.files.write_atomically`:
a temporary file in the same folder, flushed to disk, then ``os.replace``) and read with
``torch.load(weights_only=True)``, so that no pickled code ever runs. It carries every random number
generator the loop draws from, so a resumed run repeats the uninterrupted one bit for bit.
"""

from __future__ import annotations

import io
import json
import os
import random
import time
from pathlib import Path

import torch

from ..files import write_atomically, write_text_atomically
from .recipe import TrainConfig, config_from_dict

# Keys a training checkpoint must hold to be resumed (weights-only files hold "model" at most).
TRAINING_KEYS = ("model", "averaged", "optimizer", "scheduler", "epoch", "batch_in_epoch", "step",
                 "config", "variant", "dataset", "classes")
# For the fault tests only: seconds to wait between writing the temporary file and renaming it,
# which widens the "killed in the middle of a save" window enough to hit it from outside.
SAVE_DELAY_ENV = "GOOGLENET_TEST_SAVE_DELAY"


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder, then os.replace.

    If the write fails (full disk, interrupted), the temporary file is removed and ``path`` keeps
    its previous content; the error is raised as it came.
    """
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(state, buffer)  # in memory first: a full disk then fails in f.write with its errno
    delay = float(os.environ.get(SAVE_DELAY_ENV) or 0)
    # a fixed temporary name (``last.pt.tmp``): a run holds its folder's lock, and the next run clears
    # what a killed save left (:func:`remove_temporaries`)
    write_atomically(path, lambda f: f.write(buffer.getbuffer()), temporary=path.with_name(path.name + ".tmp"),
                     before_replace=(lambda: time.sleep(delay)) if delay > 0 else None)


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint with ``weights_only=True`` (no pickled code runs).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: ``path`` is a folder, empty, truncated or not a PyTorch file.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a checkpoint file; pass its last.pt or final.pt")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train first with "
                                f"`python -m utils train --out {path.parent}`")
    if path.stat().st_size == 0:
        raise ValueError(f"checkpoint {path} is empty (0 bytes), left by an interrupted write; delete it "
                         "and resume from another checkpoint or train again")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError, ... for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"checkpoint {path} is truncated or not a PyTorch checkpoint ({first[:160]}); "
                         "delete it and train again") from None
    bad = non_finite(state)
    if bad:
        raise ValueError(f"checkpoint {path} holds NaN or infinite values in {', '.join(bad[:3])}"
                         f"{f' (+{len(bad) - 3} more)' if len(bad) > 3 else ''}: its bytes are damaged (torch.load "
                         "does not check them) or the run diverged; resume from another checkpoint or train again")
    return state


def non_finite(state, prefix: str = "") -> list[str]:
    """The names of the floating tensors in a (nested) checkpoint that hold NaN or infinity."""
    if isinstance(state, torch.Tensor):
        return [prefix or "the tensor"] if state.is_floating_point() and not bool(torch.isfinite(state).all()) else []
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, list | tuple) else ()
    return [name for key, value in items for name in non_finite(value, f"{prefix}.{key}" if prefix else str(key))]


def load_training_checkpoint(path: str | Path) -> dict:
    """:func:`load_checkpoint`, then check that the file is a training checkpoint that can be resumed."""
    state = load_checkpoint(path)
    missing = [k for k in TRAINING_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"{path} is not a training checkpoint (it lacks {', '.join(missing)}); it may hold "
                         "weights only. --resume needs the last.pt that `python -m utils train` wrote")
    return state


def checkpoint_config(state: dict) -> TrainConfig:
    """The :class:`TrainConfig` a checkpoint was trained with (:func:`utils.training.recipe.config_from_dict`)."""
    return config_from_dict(state["config"])


# ----------------------------------------------------------------------------------------------
# random number generators


def rng_state() -> dict:
    """Every generator a training step may draw from: torch's CPU and CUDA generators (augmentation,
    dropout), Python's ``random`` and NumPy's global generator; as tensors and primitives only."""
    import numpy as np

    _, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python": random.getstate(),
            "numpy": {"keys": torch.from_numpy(keys.astype("int64")), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}}


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned (keys it lacks are left alone)."""
    import numpy as np

    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state(("MT19937", n["keys"].numpy().astype("uint32"), n["pos"], n["has_gauss"],
                             n["cached_gaussian"]))


# ----------------------------------------------------------------------------------------------
# the files beside a checkpoint


def remove_temporaries(folder: str | Path) -> list[Path]:
    """Delete ``*.tmp`` files a killed save left in ``folder``; returns what was removed.

    Call it only while holding the run folder's lock (:class:`utils.training.runs.RunLock`): then no save is
    in progress and every temporary file is stale.
    """
    stale = sorted(Path(folder).glob("*.tmp"))
    for f in stale:
        f.unlink(missing_ok=True)
    return stale


def write_lines_atomically(path: Path, rows: list[dict]) -> None:
    """Replace a JSON-lines file with ``rows`` (:func:`utils.files.write_text_atomically`)."""
    write_text_atomically(path, "".join(json.dumps(r) + "\n" for r in rows),
                          temporary=path.with_name(path.name + ".tmp"))


def cut_log(path: Path, step: int) -> int:
    """Keep only the rows of the JSON-lines log ``path`` with ``row["step"] <= step`` (and drop a line
    a killed process left half-written); returns how many rows were removed."""
    if not path.is_file():
        return 0
    rows, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1
            continue
        if row.get("step", 0) <= step:
            rows.append(row)
        else:
            dropped += 1
    if dropped:
        write_lines_atomically(path, rows)
    return dropped
