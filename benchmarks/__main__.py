"""``python -m benchmarks [--quick] [--json FILE] [--out REPORT.md] [--notebooks] [--evaluation]``.

Measures the machine's best kernel, inference, training and LRN's share of it, the activation
recorder, the command line (not in quick mode) and optionally every notebook and notebook 05's full
evaluation (:mod:`benchmarks.evaluation`), all in one process,
and writes a Markdown report; ``--json`` writes the headline keys (:data:`benchmarks.report.KEYS`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from utils.files import write_text_atomically
from utils.measuring.timing import stopwatch

from . import evaluation, extras, inference, photo, report

DEFAULT_OUT = Path(__file__).resolve().parent / "REPORT.md"
# A quick run's report goes beside the full one instead of over it (the full report is the committed one).
QUICK_OUT = DEFAULT_OUT.with_name("REPORT.quick.md")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="batch 8 only, fewer repeats, no CLI timing; under 45 s")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the headline numbers as JSON")
    p.add_argument("--out", type=Path, default=None,
                   help=f"Markdown report (default {DEFAULT_OUT.name}, or {QUICK_OUT.name} with --quick)")
    p.add_argument("--notebooks", action="store_true", help="also time every notebook in quick mode (slow)")
    p.add_argument("--evaluation", action="store_true",
                   help="also time notebook 05's full evaluation on Imagenette's photos (about 10 min; needs them)")
    p.add_argument("--no-cli", action="store_true", help="skip timing `python -m utils table1/profile`")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.out is None:
        args.out = QUICK_OUT if args.quick else DEFAULT_OUT
    problem = check_inputs([args.out, args.json])  # before minutes of measuring, not after
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    with stopwatch() as watch:
        result = inference.run(quick=args.quick)
        result["training"] = extras.training(args.quick)
        result["recorder_overhead"] = extras.recorder_overhead()
        result["photo_model"] = photo.run()
        if not (args.no_cli or args.quick):
            result["cli"] = extras.cli_wall_time()
        if args.notebooks:
            result["notebooks"] = extras.notebook_times()
        if args.evaluation:
            result["evaluation"] = evaluation.run()
    result["seconds"] = watch.seconds
    _write(args.out, report.to_markdown(result))
    if args.json is not None:
        _write(args.json, report.to_json(result))
    s = report.summary(result)
    print("; ".join(f"{k} {report.format_value(s[k])}" for k in report.KEYS) + f"; {result['seconds']:.0f} s; "
          f"report: {args.out}")
    return 0


def check_inputs(outputs: list[Path | None], manifest: Path = photo.ASSETS / "googlenet_imagenette.json") -> str | None:
    """What would make the run fail only at its end: an output that is a folder, in a missing or read-only
    folder, or a read-only file; a shipped manifest that does not parse or lacks a field the report reads."""
    for path in outputs:
        if path is None:
            continue
        if path.is_dir():
            return f"{path} is a folder; pass a file name such as {path / 'REPORT.md'}"
        if not path.parent.is_dir():
            return f"folder {path.parent} does not exist; create it or choose another path"
        try:  # a real write tells what os.access does not (root, read-only mounts)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
                pass
            if path.exists() and not os.access(path, os.W_OK):
                raise PermissionError(13, "Permission denied")
        except OSError as exc:
            return f"{path} cannot be written ({exc.strerror}); choose another path"
    if manifest.is_file():
        import json

        from utils.network.shipped import check_manifest

        try:
            meta = json.loads(manifest.read_text(encoding="utf-8"))
            check_manifest(meta, manifest)
        except ValueError as exc:
            return str(exc)
        missing = [k for k in ("val_images", "weights", "command") if k not in meta]
        if missing:
            return f"manifest {manifest} lacks the field {missing[0]!r}; export the shipped model again"
    return None


def _write(path: Path, text: str) -> None:
    """Write atomically (:func:`utils.files.write_text_atomically`)."""
    write_text_atomically(path, text)


if __name__ == "__main__":
    sys.exit(main())
