"""``python -m utils table1`` and ``python -m utils profile``: formats, help and errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import pandas as pd
import pytest

from utils.__main__ import main


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse exits on --help and on bad choices
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_table1_csv_columns():
    code, out, _ = run("table1", "--format", "csv")
    assert code == 0
    df = pd.read_csv(io.StringIO(out), keep_default_na=False)
    for col in ("layer", "output_size", "num_params", "macs", "paper_params", "paper_ops", "note"):
        assert col in df.columns
    assert len(df) == 19
    assert df.loc[df.layer == "inception (3a)", "macs"].item() == 128_049_152  # 28*28*163,328


def test_table1_markdown_has_notes_and_verdict():
    code, out, _ = run("table1", "--variant", "torchvision")
    assert code == 0
    assert "| inception (3a)" in out and "Totals vs the headline" in out
    # torchvision's 3a: 28*28*(192*64 + 192*96 + 96*128*9 + 192*16 + 16*32*9 + 192*32) = 121.6M
    assert "121.6M MACs (3x3 kernels in the 5x5 branch" in out
    code, out, _ = run("table1")
    assert code == 0 and "input depth of 928" in out and "above the budget" in out


def test_table1_json():
    code, out, _ = run("table1", "--format", "json")
    assert code == 0 and json.loads(out)[0]["layer"] == "convolution"


def test_profile_by_branch_and_layer():
    code, out, _ = run("profile", "--by", "branch", "--format", "csv", "--input-size", "112")
    assert code == 0
    df = pd.read_csv(io.StringIO(out))
    assert len(df) == 36 and {"module", "label", "macs"} <= set(df.columns)
    code, out, _ = run("profile", "--aux", "--format", "json")
    assert code == 0 and any(r["name"] == "aux1.fc1" for r in json.loads(out))


@pytest.mark.parametrize("argv", [("table1", "--help"), ("profile", "--help"), ("--help",)])
def test_help(argv):
    code, out, _ = run(*argv)
    assert code == 0 and "usage" in out


@pytest.mark.parametrize("argv, message", [
    (("table1", "--variant", "vgg"), "invalid choice"),
    (("profile", "--input-size", "abc"), "whole number"),
    (("profile", "--by", "module"), "invalid choice"),
])
def test_bad_arguments(argv, message):
    code, _, err = run(*argv)
    assert code == 2 and message in err


def test_too_small_input_is_a_clear_error():
    code, _, err = run("profile", "--input-size", "8")
    assert code == 2 and "too small" in err and "at least" in err
    code, _, err = run("profile", "--by", "branch", "--aux")
    assert code == 2 and "--by layer" in err


def test_table1_needs_no_tracing():
    # The analytic table is arithmetic on Table 1: it must not run the network or load fvcore.
    code = ("import sys, torch; from utils import profiling; "
            "calls = []; torch.nn.Module.__call__ = lambda *a, **k: calls.append(1); "
            "profiling.table1('paper'); profiling.table1('torchvision'); "
            "print(len(calls), 'fvcore' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "False"]
