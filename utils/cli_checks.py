"""Argument checks shared by the commands of ``python -m utils``.

Each is an ``argparse`` type (it fails while the command line is parsed, before any model or data is
loaded) or a function a command calls first thing; each message says what was wrong and what to
pass instead.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path


def positive_float(text: str) -> float:
    """A finite number > 0 (``--lr``): rejects nan, inf, 0 and negatives."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1 (``--epochs``, ``--max-steps``, ``--batch-size``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def int_in(lo: int, hi: int):
    """An argparse type for a whole number in ``lo..hi`` (``--branch``: 1..4)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number from {lo} to {hi}, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be from {lo} to {hi}, got {value}")
        return value

    return parse


MAX_SEED = 2**32 - 1  # NumPy's generators take 0..2**32-1; torch.manual_seed overflows past 2**64-1


def seed(text: str) -> int:
    """A random seed (``--seed``): a whole number from 0 to :data:`MAX_SEED`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {MAX_SEED}, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_SEED} (2**32 - 1), got {value}")
    return value


def existing_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path, if it is a file; else FileNotFoundError or ValueError saying which."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder; pass a file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist; check the path")
    return path


def weights_env() -> None:
    """``$GOOGLENET_WEIGHTS``, if set, must name a file (a folder was silently ignored before)."""
    value = os.environ.get("GOOGLENET_WEIGHTS")
    if value:
        existing_file(value, "GOOGLENET_WEIGHTS")


def output_file(path: str | Path, inputs: tuple[str | Path | None, ...] = ()) -> Path:
    """A file to write: not a folder, its folder exists, and not one of ``inputs`` (never overwrite an input)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--out {str(path)!r} is a folder; pass a file name such as {path / 'figure.png'}")
    if not path.parent.is_dir():
        raise NotADirectoryError(f"folder {str(path.parent)!r} for --out does not exist; create it first")
    for other in inputs:
        if other is not None and Path(other).exists() and path.exists() and path.samefile(other):
            raise ValueError(f"--out {str(path)!r} is the input {str(other)!r}; writing would overwrite it. "
                             "Pass another --out")
    if path.name in RUN_FILES and any((path.parent / name).exists() for name in RUN_FILES):
        raise ValueError(f"--out {str(path)!r} is one of a training run's own files ({', '.join(RUN_FILES)}) "
                         "in its folder; pass another name")
    return path


# What a training run keeps in its folder (utils.training.runs.RUN_FILES; no import: this module is below it).
RUN_FILES = ("last.pt", "final.pt", "metrics.jsonl", "steps.jsonl")


def output_folder(path: str | Path) -> Path:
    """A folder to write into (``train --out``): not an existing file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {str(path)!r} is a file, not a folder; pass a folder for the run")
    return path
