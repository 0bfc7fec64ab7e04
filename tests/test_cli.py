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
    code = ("import sys, torch; from utils.measuring import table1; "
            "calls = []; torch.nn.Module.__call__ = lambda *a, **k: calls.append(1); "
            "table1.table1('paper'); table1.table1('torchvision'); "
            "print(len(calls), 'fvcore' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "False"]


# --- train and activations: every argument checked first, every fault a one-line message -------------

def _images(root, classes=("a", "b"), n=6):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (36, 36, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def _train(folder, out, *extra):
    return run("train", "--variant", "torchvision", "--dataset", str(folder), "--epochs", "1", "--batch-size", "4",
               "--image-size", "32", "--out", str(out), *extra)


def one_line_error(code, err, *words):
    assert code != 0 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error") or ": error:" in line]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], (w, err)


@pytest.mark.parametrize("option, value, words", [
    ("--lr", "nan", ("--lr", "finite")), ("--lr", "inf", ("--lr", "finite")), ("--lr", "0", ("--lr", "> 0")),
    ("--lr", "-1", ("--lr",)), ("--max-steps", "0", ("--max-steps", "at least 1")),
    ("--max-steps", "-3", ("--max-steps",)), ("--epochs", "0", ("--epochs", "at least 1")),
    ("--batch-size", "0", ("--batch-size",)), ("--image-size", "16", ("--image-size", "32")),
])
def test_train_rejects_bad_numbers_before_anything_is_made(tmp_path, option, value, words):
    code, _, err = run("train", option, value, "--out", str(tmp_path / "run"))
    one_line_error(code, err, *words)
    assert code == 2 and not (tmp_path / "run").exists()


def test_train_out_must_be_a_folder_and_resume_needs_one(tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, err = run("train", "--out", str(tmp_path / "file"))
    one_line_error(code, err, "is a file")
    code, _, err = run("train", "--resume")
    one_line_error(code, err, "--resume needs --out")


def test_a_finished_run_is_never_written_over(tmp_path):
    folder, out = _images(tmp_path / "imgs"), tmp_path / "run"
    assert _train(folder, out)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    code, _, err = _train(folder, out)  # forgot --resume
    one_line_error(code, err, "already holds a run", "--resume", "--overwrite")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    code, _, err = _train(folder, out, "--overwrite", "--max-steps", "1")
    assert code == 0, err
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("run.old-")]
    assert len(aside) == 1 and {p.name: p.read_bytes() for p in aside[0].iterdir() if p.is_file()} == before
    assert torch_step(out / "last.pt") == 1


def torch_step(path):
    import torch

    return torch.load(path, weights_only=True)["step"]


def test_default_out_is_a_new_folder_per_run_never_the_notebooks_cache(tmp_path, monkeypatch):
    import utils.training.train

    folder = _images(tmp_path / "imgs")
    monkeypatch.setattr(utils.training.train, "RUNS", tmp_path / "runs")
    args = ("train", "--variant", "torchvision", "--dataset", str(folder), "--epochs", "1", "--batch-size", "4",
            "--image-size", "32", "--max-steps", "1")
    assert run(*args)[0] == 0
    import time

    time.sleep(1.1)  # the folder name carries the second
    code, out, err = run(*args)
    assert code == 0, err
    made = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(made) == 2 and all(p.startswith("imgs_torchvision_seed0_2") for p in made)
    assert json.loads(out.splitlines()[-1])["out"].endswith(made[1])


def test_resume_refuses_contradicting_arguments_and_finds_its_dataset(tmp_path):
    folder, out = _images(tmp_path / "imgs"), tmp_path / "run"
    assert _train(folder, out, "--max-steps", "1")[0] == 0
    code, _, err = _train(folder, out, "--resume", "--variant", "paper", "--image-size", "64")
    one_line_error(code, err, "contradicts the checkpoint", "variant: checkpoint 'torchvision', asked 'paper'",
                   "image_size: checkpoint 32, asked 64")
    code, _, err = run("train", "--resume", "--out", str(out), "--dataset", "mnist")
    one_line_error(code, err, "dataset: checkpoint 'imgs', asked 'mnist'")
    three = _images(tmp_path / "other" / "imgs", classes=("a", "b", "c"))  # same name, one class more
    code, _, err = run("train", "--resume", "--out", str(out), "--dataset", str(three))
    one_line_error(code, err, "number of classes: checkpoint 2, data 3")
    code, stdout, err = run("train", "--resume", "--out", str(out))  # no --dataset: the checkpoint's
    assert code == 0, err
    assert json.loads(stdout.splitlines()[-1])["step"] == 3


@pytest.mark.parametrize("content, words", [
    (b"", "is empty"), (b"PK\x03\x04 truncated", "truncated or not a PyTorch checkpoint"), (None, "weights only")])
def test_a_broken_or_weights_only_last_pt_is_a_message(tmp_path, content, words):
    import torch

    out = tmp_path / "run"
    out.mkdir()
    if content is None:
        torch.save({"conv1.weight": torch.zeros(1)}, out / "last.pt")
    else:
        (out / "last.pt").write_bytes(content)
    code, _, err = run("train", "--resume", "--out", str(out))
    one_line_error(code, err, words)


def test_a_truncated_checkpoint_of_a_real_run_is_a_message(tmp_path):
    folder, out = _images(tmp_path / "imgs"), tmp_path / "run"
    assert _train(folder, out, "--max-steps", "1")[0] == 0
    data = (out / "last.pt").read_bytes()
    (out / "last.pt").write_bytes(data[: len(data) // 2])
    one_line_error(*_train(folder, out, "--resume")[::2], "truncated")


def _in_tmpfs(tmp_path, options, argv):
    """Run ``python -m utils ARGV`` with a tmpfs mounted (private to the child) at tmp_path/mnt."""
    import os
    import shutil

    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to mount a private tmpfs")
    probe = subprocess.run(["unshare", "-Urm", "mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {probe.stderr.strip()}")
    script = 'mount -t tmpfs -o "$1" tmpfs "$2" && shift 2 && exec "$@"'
    cmd = ["unshare", "-Urm", "sh", "-c", script, "sh", options, str(mnt), sys.executable, "-m", "utils", *argv]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return done.returncode, done.stderr, mnt


def test_a_full_disk_is_a_message_and_leaves_no_temporary_file(tmp_path):
    folder = _images(tmp_path / "imgs")
    argv = ["train", "--variant", "torchvision", "--dataset", str(folder), "--epochs", "1", "--batch-size", "4",
            "--image-size", "32", "--max-steps", "1", "--out", str(tmp_path / "mnt" / "run")]
    code, err, _ = _in_tmpfs(tmp_path, "size=256k", argv)  # room for the logs, not for a 20 MB checkpoint
    one_line_error(code, err, "No space left on device", "last.pt", "disk is full")


def test_an_unwritable_out_is_a_message(tmp_path):
    import os

    folder = _images(tmp_path / "imgs")
    argv = ["train", "--variant", "torchvision", "--dataset", str(folder), "--epochs", "1", "--batch-size", "4",
            "--image-size", "32", "--max-steps", "1", "--out", str(tmp_path / "mnt" / "run")]
    code, err, _ = _in_tmpfs(tmp_path, "ro,size=64k", argv)  # read-only: stops root too
    one_line_error(code, err, "Read-only file system", "writable folder")
    if os.geteuid() != 0:  # permissions stop only non-root users
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        code, _, err = run(*argv[:-1], str(locked / "run"))
        one_line_error(code, err, "Permission denied")


def test_activations_checks_every_argument_before_loading_a_model(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    import utils.presentation.activations_cli

    def no_model(*a, **k):
        raise AssertionError("a model was loaded before the arguments were checked")

    monkeypatch.setattr(utils.presentation.activations_cli, "load_model", no_model)
    monkeypatch.delenv("GOOGLENET_WEIGHTS", raising=False)
    image = tmp_path / "photo.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(image)
    base = ("activations", "--image", str(image), "--module", "inception3a")
    code, _, err = run(*base, "--out", str(tmp_path / "f.png"), "--branch", "5")
    one_line_error(code, err, "--branch", "from 1 to 4")
    code, _, err = run(*base, "--out", str(image))
    one_line_error(code, err, "overwrite")
    assert Image.open(image).size == (40, 40)
    code, _, err = run(*base, "--out", str(tmp_path))
    one_line_error(code, err, "is a folder")
    code, _, err = run(*base, "--out", str(tmp_path / "f.png"), "--weights", str(tmp_path))
    one_line_error(code, err, "--weights", "is a folder")
    monkeypatch.setenv("GOOGLENET_WEIGHTS", str(tmp_path))
    code, _, err = run(*base, "--out", str(tmp_path / "f.png"))
    one_line_error(code, err, "GOOGLENET_WEIGHTS", "is a folder")
