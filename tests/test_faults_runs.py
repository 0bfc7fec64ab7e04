"""A run's folder and log under faults: a second training that fills the folder while the first is still
scanning its data, and a damaged row in the middle of a run's metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from utils.training import loop
from utils.training.recipe import TrainConfig
from utils.training.runs import run_log


def test_a_run_that_fills_the_folder_during_the_data_scan_is_not_written_over(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "data" / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (36, 36, 3), dtype=np.uint8)).save(tmp_path / "data" / c / f"{i}.png")
    out = tmp_path / "run"
    real = loop.load_dataset
    theirs = {"last.pt": b"the other run's checkpoint", "steps.jsonl": b'{"step": 8, "loss": 1.0}\n'}

    def slow_scan(*args, **kwargs):  # meanwhile a second training on the same new folder finishes
        out.mkdir(exist_ok=True)
        for name, data in theirs.items():
            (out / name).write_bytes(data)
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "load_dataset", slow_scan)
    config = TrainConfig(epochs=1, batch_size=4, image_size=32)
    with pytest.raises(ValueError, match="changed while this training loaded its data") as err:
        loop.train(config, "torchvision", tmp_path / "data", out, max_steps=1, progress=False)
    assert "--resume" in str(err.value) and "\n" not in str(err.value)
    for name, data in theirs.items():
        assert (out / name).read_bytes() == data
    assert not (out / "final.pt").exists() and not (out / "metrics.jsonl").exists()


def test_run_log_keeps_the_rows_after_a_damaged_one(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"step": 2 * k, "epoch": float(k), "val_acc": 0.1 * k, "seconds": 3.0 * k} for k in (1, 2, 3)]
    lines = [json.dumps(rows[0]), json.dumps(rows[1])[:-7], "7", json.dumps(rows[1]), json.dumps(rows[2])]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    got = run_log(run, runs=tmp_path)["epochs"]
    assert [r["step"] for r in got] == [2, 4, 6]  # the cut row and the stray number are left out, not the rest


def test_a_command_output_is_never_one_of_a_runs_own_files(tmp_path):
    from utils import cli_checks
    from utils.training import runs

    assert cli_checks.RUN_FILES == runs.RUN_FILES
    run = tmp_path / "run"
    run.mkdir()
    (run / "final.pt").write_bytes(b"a finished run")
    for name in ("final.pt", "metrics.jsonl"):
        with pytest.raises(ValueError, match="training run's own files"):
            cli_checks.output_file(run / name)
    assert cli_checks.output_file(run / "figure.png") == run / "figure.png"
    assert cli_checks.output_file(tmp_path / "final.pt") == tmp_path / "final.pt"  # no run there
