"""Where the companion keeps things, and the quick-mode switch the notebooks read.

Paths are resolved from this package's location, so notebooks and tests need no absolute paths.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
NOTEBOOKS = ROOT / "notebooks"
PAPER_NOTES = ROOT / "paper_notes"
# Training runs and checkpoints; ignored by git. Override with $GOOGLENET_RUNS.
RUNS = Path(os.environ.get("GOOGLENET_RUNS", ROOT / "runs"))


def quick_mode() -> bool:
    """True when ``GOOGLENET_QUICK`` is set to 1/true/yes: notebooks then run in minutes on a CPU."""
    return os.environ.get("GOOGLENET_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}
