"""Running a notebook of the companion top to bottom in a fresh kernel: the one executor that the
notebook tests, the benchmarks and the book share.

The kernel gets its own environment (quick mode, matplotlib's inline backend, so that every figure a
cell shows is saved in the notebook as an image); this process's ``os.environ`` is left as it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..measuring.timing import stopwatch
from ..paths import NOTEBOOKS

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # IPython's inline backend: figures as PNG outputs


@dataclass
class Executed:
    """An executed notebook: the notebook node (outputs filled in), wall seconds, and the
    ``ename: evalue`` of every error output (empty when it ran clean)."""

    notebook: object
    seconds: float
    errors: list[str]


def kernel_env(quick: bool = True) -> dict[str, str]:
    """The environment of a notebook's kernel: this process's, plus quick mode, the inline backend and
    no progress bars.

    The backend is set, not defaulted: with ``Agg`` (a test process or a headless shell often has it) a
    cell's figure is kept as the text ``<Figure size ...>`` and the saved notebook shows no image.
    """
    env = dict(os.environ)
    if quick:
        env["GOOGLENET_QUICK"] = "1"
    else:
        env.pop("GOOGLENET_QUICK", None)
    env["MPLBACKEND"] = INLINE_BACKEND
    env.setdefault("TQDM_DISABLE", "1")  # a saved notebook keeps no progress bars (tqdm reads this variable)
    return env


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def strip_widgets(nb) -> int:
    """Drop what only a live kernel can show from an executed notebook: every widget output (tqdm's
    bar in a notebook, an interactive control) and the saved widget state. Returns how many outputs went.

    A saved widget reads back as its plain-text stand-in (``0%| | 0/3925``), never as the finished bar,
    so a committed notebook keeps none; a static figure stands in for an interactive control.
    """
    dropped = 0
    for cell in nb.cells:
        outputs = cell.get("outputs")
        if not outputs:
            continue
        kept = [o for o in outputs if WIDGET_MIME not in o.get("data", {})]
        dropped += len(outputs) - len(kept)
        cell["outputs"] = kept
    nb.metadata.pop("widgets", None)
    return dropped


def execute(path: str | Path, quick: bool = True, timeout: int = 600,
            raise_on_error: bool = True) -> Executed:
    """Execute the notebook at ``path`` in memory (nothing is written) with its folder as the
    working directory.

    Args:
        quick: run in quick mode (``GOOGLENET_QUICK=1``), as the tests and the book do.
        timeout: seconds allowed per cell.
        raise_on_error: stop at the first failing cell (nbclient's ``CellExecutionError``);
            with ``False`` every cell runs and the errors are listed in :attr:`Executed.errors`.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook {str(path)!r} does not exist; the notebooks are in {NOTEBOOKS}")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=not raise_on_error,
                            resources={"metadata": {"path": str(path.parent)}})
    with stopwatch() as watch:
        client.execute(env=kernel_env(quick))
    seconds = watch.seconds
    strip_widgets(nb)  # a progress bar passed disable=False explicitly still made a widget
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for c in nb.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    return Executed(nb, seconds, errors)
