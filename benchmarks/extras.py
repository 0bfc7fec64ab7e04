"""The smaller measurements of the report: training, activation recording, the CLI, notebooks.

Each one calls code that other modules own and returns ``None`` (with the reason) when that code
is not there, so the report always renders.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time

from utils.paths import NOTEBOOKS, ROOT


def training(quick: bool) -> dict | None:
    """``benchmarks.training.run(quick=...)`` if that module exists; ``None`` otherwise."""
    try:
        module = importlib.import_module("benchmarks.training")
    except ModuleNotFoundError:
        return None
    fn = getattr(module, "run", None) or getattr(module, "benchmark", None)
    if fn is None:
        return None
    return fn(quick=quick)


def recorder_overhead() -> dict | None:
    """:func:`utils.activations.recorder_overhead` (plain vs recorded forward) if present."""
    try:
        from utils.activations import recorder_overhead as measure
    except ImportError:
        return None
    return measure()


def cli_wall_time(commands=(("table1",), ("profile",)), timeout: float = 300) -> list[dict]:
    """Wall time of ``python -m utils COMMAND`` in a fresh interpreter (imports included)."""
    rows = []
    for args in commands:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "utils", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout)
        rows.append({"command": "python -m utils " + " ".join(args), "seconds": time.perf_counter() - t0,
                     "exit_status": proc.returncode})
    return rows


def notebook_times(timeout: float = 600, progress: bool = True) -> list[dict]:
    """Execute every notebook in quick mode (GOOGLENET_QUICK=1) in memory; nothing is written."""
    import nbformat
    from nbclient import NotebookClient
    from tqdm.auto import tqdm

    os.environ["GOOGLENET_QUICK"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    rows = []
    for path in tqdm(sorted(NOTEBOOKS.glob("*.ipynb")), desc="notebooks", disable=not progress):
        nb = nbformat.read(path, as_version=4)
        t0 = time.perf_counter()
        error = ""
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
        except Exception as exc:  # report the failure, keep timing the others
            error = f"{type(exc).__name__}"
        rows.append({"notebook": path.name, "seconds": time.perf_counter() - t0, "error": error})
    return rows
