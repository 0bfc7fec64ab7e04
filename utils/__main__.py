"""Command line: ``python -m utils COMMAND --help``.

Each command lives in the module that implements it; that module's ``add_cli(subparsers)`` adds
the subcommand and sets ``func``. Errors the user can fix print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys

# Modules that contribute subcommands, in the order ``--help`` lists them.
CLI_MODULES = (
    "utils.measuring.profiling_cli",  # table1, profile
    "utils.training.train",  # train
    "utils.presentation.activations_cli",  # activations
    "utils.presentation.atlas",  # atlas
    "utils.network.caffe",  # convert-caffe, download-bvlc
    "utils.training.export",  # export-model
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m utils",
        description="GoogLeNet study companion: Table 1, profiles, training and branch activations.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in CLI_MODULES:
        importlib.import_module(name).add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .network.weights import WeightsUnavailable

    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, NotADirectoryError, KeyError, WeightsUnavailable) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:  # a disk or permission fault: what failed, where, and what to do
        print(f"error: {os_error_message(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


# What to do about the operating system's errors a user can fix.
OS_HINTS = {
    errno.ENOSPC: "the disk is full; free some space or write to another disk",
    errno.EDQUOT: "the disk quota is used up; free some space or write elsewhere",
    errno.EACCES: "no permission to write there; choose a folder you own (e.g. --out under your home)",
    errno.EPERM: "no permission to write there; choose a folder you own",
    errno.EROFS: "that file system is read-only; choose a writable folder",
    errno.EISDIR: "that path is a folder; pass a file path",
    errno.ENOTDIR: "a part of that path is a file, not a folder",
    errno.EFBIG: "the file grew past the size this system allows",
}


def os_error_message(exc: OSError) -> str:
    """One line for an OSError: the project's own message, or the system's reason, path and a hint."""
    if exc.strerror is None:
        return str(exc)
    where = f" ({exc.filename})" if exc.filename else ""
    hint = OS_HINTS.get(exc.errno)
    return f"{exc.strerror}{where}" + (f"; {hint}" if hint else "")


if __name__ == "__main__":
    sys.exit(main())
