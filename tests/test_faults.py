"""Faults a long training run meets: Ctrl-C, a kill in the middle of a step or of a save, a second
training on the same folder. Each interrupted run is resumed and must end with the very weights
(bit for bit) and the very logs of a run that was never interrupted.

The runs are real ``python -m utils train`` processes on 16 random 32-pixel images, one thread each
(so that the arithmetic repeats exactly), two epochs of four steps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
STEPS = 8  # 2 epochs x 16 training images / batch 4
TIMEOUT = 300  # seconds per process; a busy shared machine can be slow


def image_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(10):  # 20 images: 16 for training, 4 held out
            Image.fromarray(rng.integers(0, 255, (36, 36, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def start(folder: Path, out: Path, *extra: str, save_delay: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("GOOGLENET_TEST_SAVE_DELAY", None)
    if save_delay:
        env["GOOGLENET_TEST_SAVE_DELAY"] = str(save_delay)
    cmd = [sys.executable, "-m", "utils", "train", "--variant", "torchvision", "--dataset", str(folder),
           "--epochs", "2", "--batch-size", "4", "--image-size", "32", "--log-every", "1", "--out", str(out),
           *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()  # leave no orphan behind a failed test
        proc.communicate()
        raise
    return proc.returncode, err


def wait_for(condition, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def logged_steps(out: Path) -> list[int]:
    path = out / "steps.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if line.endswith("}")]


def log(out: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (out / name).read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run every interrupted one must reproduce."""
    root = tmp_path_factory.mktemp("faults")
    folder = image_folder(root / "images")
    code, err = finish(start(folder, root / "whole"))
    assert code == 0, err[-2000:]
    return folder, root / "whole"


def assert_same_run(out: Path, whole: Path) -> None:
    a = torch.load(out / "final.pt", weights_only=True)
    b = torch.load(whole / "final.pt", weights_only=True)
    for key in ("model", "averaged"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name} differs from the uninterrupted run"
    assert a["step"] == STEPS
    steps = log(out, "steps.jsonl")
    assert [r["step"] for r in steps] == list(range(1, STEPS + 1))  # each step exactly once
    assert steps == log(whole, "steps.jsonl")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(log(out, "metrics.jsonl")) == strip(log(whole, "metrics.jsonl"))
    assert not list(out.glob("*.tmp")), "a temporary file was left behind"


@pytest.mark.parametrize("sig, when", [
    (signal.SIGINT, 6),  # Ctrl-C in the middle of step 6 (mid-epoch: no epoch-end save helps)
    (signal.SIGKILL, 7),  # killed in the middle of step 7: resumes from the epoch-1 checkpoint (step 4)
    (signal.SIGKILL, 2),  # killed before the first checkpoint: starts again from step 0
])
def test_interrupted_mid_step_resumes_bit_for_bit(reference, tmp_path, sig, when):
    folder, whole = reference
    out = tmp_path / "run"
    proc = start(folder, out)
    wait_for(lambda: len(logged_steps(out)) >= when - 1, proc, f"step {when - 1}")
    proc.send_signal(sig)
    code, err = finish(proc)
    if sig == signal.SIGINT:
        assert code == 130, err[-2000:]
        saved = torch.load(out / "last.pt", weights_only=True)
        assert saved["step"] == len(logged_steps(out)) >= when - 1  # the step under way was finished, then saved
        assert "--resume" in err and "Traceback" not in err
    else:
        assert code == -signal.SIGKILL
    code, err = finish(start(folder, out, "--resume"))
    assert code == 0, err[-2000:]
    assert_same_run(out, whole)


@pytest.mark.parametrize("sig, save", [
    (signal.SIGKILL, 1),  # killed while writing the first last.pt: a .tmp is left, no checkpoint yet
    (signal.SIGKILL, 2),  # killed while writing the second: last.pt of epoch 1 stays whole
    (signal.SIGINT, 1),  # Ctrl-C while saving: the save completes, then the run stops
])
def test_interrupted_mid_save_resumes_bit_for_bit(reference, tmp_path, sig, save):
    folder, whole = reference
    out = tmp_path / "run"
    proc = start(folder, out, save_delay=1.5)
    tmp = out / "last.pt.tmp"
    if save == 2:
        wait_for(lambda: (out / "last.pt").exists(), proc, "the first save")
    wait_for(tmp.exists, proc, f"save {save}")
    time.sleep(0.2)
    proc.send_signal(sig)
    code, err = finish(proc)
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL and tmp.exists()  # the kill really hit the save
        assert (out / "last.pt").exists() == (save == 2)
    else:
        assert code == 130, err[-2000:]
        assert torch.load(out / "last.pt", weights_only=True)["step"] == 4 and not tmp.exists()
    code, err = finish(start(folder, out, "--resume"))
    assert code == 0, err[-2000:]
    assert_same_run(out, whole)


def test_a_second_training_on_the_same_folder_fails_at_once_naming_the_first(reference, tmp_path):
    folder, _ = reference
    out = tmp_path / "run"
    first = start(folder, out, save_delay=600)  # it stays alive in its first save until killed
    try:
        wait_for(lambda: (out / "lock.json").exists() and logged_steps(out), first, "the first run to start")
        code, err = finish(start(folder, out, "--resume"))
        assert code == 2 and first.poll() is None  # refused while the first one runs
        assert f"in use by process {first.pid}" in err and "started" in err and "Traceback" not in err
        before = logged_steps(out)
        assert before == list(range(1, len(before) + 1))  # the first run's log is untouched
    finally:
        first.kill()
        first.communicate()
    # the kernel dropped the killed run's lock: resuming it now works
    code, err = finish(start(folder, out, "--resume", "--max-steps", "5"))
    assert code == 0, err[-2000:]
