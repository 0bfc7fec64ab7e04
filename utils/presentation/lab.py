"""Start JupyterLab at the reading guide: what ``make lab`` runs (``python -m utils.presentation.lab --help``).

The companion is read in JupyterLab, so its start must not depend on who or where the reader is:
as root (containers, cloud notebooks) JupyterLab refuses to start unless told ``--allow-root``;
on a machine without a display or a web browser there is nothing to open, so the server only
prints the address to open, token included, and keeps serving. The address points straight at
the reading guide (``notebooks/00_reading_guide.ipynb``), whose map leads to every other notebook.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import webbrowser
from collections.abc import Mapping
from pathlib import Path

from ..paths import ROOT

GUIDE = "notebooks/00_reading_guide.ipynb"


def has_browser(env: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """True when a graphical web browser can be opened from here.

    A reader's own choice (``$BROWSER``) wins. macOS and Windows always have one. Elsewhere a
    browser needs a display (X11 or Wayland): over ssh or in a container there is none, and the
    text browsers Python's ``webbrowser`` would fall back to would take over the terminal the
    server logs to.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if env.get("BROWSER"):
        return True
    if platform in ("darwin", "win32"):
        return True
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def lab_args(notebook: str = GUIDE, port: int | None = None, open_browser: bool = True,
             euid: int | None = None, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The ``jupyter lab`` arguments that open ``notebook`` (a path relative to the project root).

    Args:
        notebook: the notebook the browser opens and the printed address points at.
        port: listen on exactly this port (fail if it is taken); ``None``: 8888 or the next free one.
        open_browser: ``False`` only prints the address (with its token).
        euid: the effective user id; 0 (root) adds ``--allow-root``. ``None``: this process's.
        extra: further ``jupyter lab`` options, passed unchanged (e.g. ``--ip=0.0.0.0``).
    """
    path = ROOT / notebook
    if not path.is_file():
        raise FileNotFoundError(f"no notebook {path}; give a path relative to {ROOT}, "
                                f"e.g. {GUIDE}")
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not a TCP port; give one in 1..65535, e.g. PORT=8890")
    if euid is None:
        euid = os.geteuid() if hasattr(os, "geteuid") else -1
    url_path = "/lab/tree/" + Path(notebook).as_posix()
    args = [
        # the project root, not the notebook's folder, so the notes and figures the notebooks
        # link to (../paper_notes, ../assets) are inside what the server shows
        f"--ServerApp.root_dir={ROOT}",
        # the printed address (and the browser) land on the notebook, not on an empty launcher
        f"--LabApp.default_url={url_path}",
    ]
    if port is not None:
        args += [f"--port={port}", "--ServerApp.port_retries=0"]
    if not open_browser:
        args.append("--no-browser")
    if euid == 0:
        args.append("--allow-root")
    return [*args, *extra, Path(notebook).as_posix()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m utils.presentation.lab",
        description="Start JupyterLab at the reading guide. Options it does not know go to "
                    "`jupyter lab` unchanged (e.g. --ip=0.0.0.0).")
    parser.add_argument("notebook", nargs="?", default=GUIDE, help=f"notebook to open (default {GUIDE})")
    parser.add_argument("--port", type=int, help="listen on this port (default 8888 or the next free one)")
    parser.add_argument("--no-browser", action="store_true",
                        help="open no browser; only print the address with its token")
    args, extra = parser.parse_known_args(argv)
    open_browser = not args.no_browser and has_browser()
    try:
        jupyter_args = lab_args(args.notebook, args.port, open_browser, extra=extra)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if "--allow-root" in jupyter_args:
        print("lab: running as root, so JupyterLab is started with --allow-root", file=sys.stderr)
    if not open_browser:
        why = "as asked" if args.no_browser else "no display or web browser was found"
        print(f"lab: no browser is opened ({why}); open the http://127.0.0.1:... address that "
              "JupyterLab prints below, token included. Stop the server with Control-C.", file=sys.stderr)
    sys.stderr.flush()
    command = [sys.executable, "-m", "jupyterlab", *jupyter_args]
    if os.name == "posix":
        # the server takes this process's place: same pid, so Control-C and a kill reach it directly
        os.chdir(ROOT)
        os.execv(sys.executable, command)
    return subprocess.call(command, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
