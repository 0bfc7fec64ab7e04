"""Command line: ``python -m utils COMMAND --help``.

Each command lives in the module that implements it; that module's ``add_cli(subparsers)`` adds
the subcommand and sets ``func``. Errors the user can fix print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that contribute subcommands, in the order ``--help`` lists them.
CLI_MODULES = (
    "utils.profiling_cli",  # table1, profile
    "utils.train",  # train
    "utils.activations_cli",  # activations
    "utils.caffe",  # convert-caffe, download-bvlc
    "utils.shipped",  # export-model
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
    from .weights import WeightsUnavailable

    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, NotADirectoryError, KeyError, WeightsUnavailable) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
