"""``python -m benchmarks [--quick] [--json FILE] [--out REPORT.md] [--notebooks]``.

Measures inference (always), training (when :mod:`benchmarks.training` exists), the activation
recorder, the command line and optionally every notebook, all in one process, and writes a
Markdown report.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import extras, inference, report

DEFAULT_OUT = Path(__file__).resolve().parent / "REPORT.md"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats and smaller sizes; under a minute")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the headline numbers as JSON")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"Markdown report (default {DEFAULT_OUT.name})")
    p.add_argument("--notebooks", action="store_true", help="also time every notebook in quick mode (slow)")
    p.add_argument("--no-cli", action="store_true", help="skip timing `python -m utils table1/profile`")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for path in (args.out, args.json):
        if path is not None and not path.parent.exists():
            print(f"error: folder {path.parent} does not exist; create it or choose another path",
                  file=sys.stderr)
            return 2
    t0 = time.perf_counter()
    result = inference.run(quick=args.quick)
    result["training"] = extras.training(args.quick)
    result["recorder_overhead"] = extras.recorder_overhead()
    if not args.no_cli:
        result["cli"] = extras.cli_wall_time()
    if args.notebooks:
        result["notebooks"] = extras.notebook_times()
    args.out.write_text(report.to_markdown(result), encoding="utf-8")
    if args.json is not None:
        args.json.write_text(report.to_json(result), encoding="utf-8")
    s = report.summary(result)
    print(f"inference speed-up vs torchvision (batch 8): {s['inference_speedup_vs_torchvision']:.2f}x; "
          f"fraction of matmul peak: {s['gemm_peak_fraction']:.2f}; training speed-up: "
          f"{s['training_speedup_vs_torchvision']}; {time.perf_counter() - t0:.0f} s; report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
