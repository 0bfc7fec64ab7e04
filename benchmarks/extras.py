"""The smaller measurements of the report: training, activation recording, the CLI, notebooks."""

from __future__ import annotations

import subprocess
import sys

from utils.measuring.timing import stopwatch
from utils.paths import NOTEBOOKS, ROOT


def training(quick: bool) -> dict:
    """:func:`benchmarks.training.run`: the training step against torchvision's, and LRN's share."""
    from .training import run

    return run(quick=quick)


def recorder_overhead() -> dict:
    """:func:`utils.measuring.timing.recorder_overhead`: a plain forward pass against a recorded one."""
    from utils.measuring.timing import recorder_overhead as measure

    return measure()


def cli_wall_time(commands=(("table1",), ("profile",)), timeout: float = 300) -> list[dict]:
    """Wall time of ``python -m utils COMMAND`` in a fresh interpreter (imports included)."""
    rows = []
    for args in commands:
        with stopwatch() as watch:
            proc = subprocess.run([sys.executable, "-m", "utils", *args], cwd=ROOT, capture_output=True,
                                  text=True, timeout=timeout)
        rows.append({"command": "python -m utils " + " ".join(args), "seconds": watch.seconds,
                     "exit_status": proc.returncode})
    return rows


def notebook_times(timeout: float = 600, progress: bool = True) -> list[dict]:
    """Execute every notebook in quick mode in memory; nothing is written.

    Uses :func:`utils.presentation.notebook_exec.execute`, the runner of the tests and the book.
    """
    from tqdm.auto import tqdm

    from utils.presentation.notebook_exec import execute

    rows = []
    for path in tqdm(sorted(NOTEBOOKS.glob("*.ipynb")), desc="notebooks", disable=not progress):
        try:
            run = execute(path, quick=True, timeout=int(timeout), raise_on_error=False)
            rows.append({"notebook": path.name, "seconds": run.seconds, "error": "; ".join(run.errors)[:200]})
        except Exception as exc:  # a kernel that dies: report it, keep timing the others
            rows.append({"notebook": path.name, "seconds": float("nan"), "error": type(exc).__name__})
    return rows
