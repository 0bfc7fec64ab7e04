"""The training loop: atomic weights-only checkpoints, exact resume, NaN stop, DDP over gloo, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from utils.__main__ import main
from utils.data import DataBundle, EvalTransform, TensorImages, TrainTransform
from utils.model import GoogLeNetOutputs
from utils.recipe import TrainConfig
from utils.train import NonFiniteLoss, load_checkpoint, save_checkpoint, total_loss, train

TINY = replace(TrainConfig(), batch_size=8, epochs=2, warmup_steps=2, image_size=32)


def tiny_data(n_train=24, n_val=8, poison=False):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n_train + n_val, 1, 28, 28), generator=g, dtype=torch.uint8)
    labels = torch.arange(n_train + n_val) % 3
    train_t, val_t = TrainTransform(32), EvalTransform(32)
    if poison:  # every input becomes NaN, so the first loss is NaN
        train_t.std = torch.tensor(float("nan")).view(1, 1, 1)
    return DataBundle("tiny", TensorImages(images[:n_train], labels[:n_train], train_t),
                      TensorImages(images[n_train:], labels[n_train:], val_t), ["a", "b", "c"], 32, (0.5,), (0.5,))


def losses(out):
    return [json.loads(line)["loss"] for line in (out / "steps.jsonl").read_text().splitlines()]


def test_total_loss_weights_aux_by_0_3():
    target = torch.tensor([0, 1])
    zero, confident = torch.zeros(2, 3), torch.tensor([[9.0, 0, 0], [0, 9.0, 0]])
    out = GoogLeNetOutputs(confident, zero, zero)
    main_only = torch.nn.functional.cross_entropy(confident, target)
    assert total_loss(out, target, 0.3).item() == pytest.approx(main_only.item() + 0.3 * 2 * np.log(3), rel=1e-5)


def test_checkpoint_is_atomic_and_weights_only(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"w": torch.ones(2), "step": 3, "rng": torch.get_rng_state()})
    assert not (tmp_path / "c.pt.tmp").exists()
    state = torch.load(path, weights_only=True)
    assert state["step"] == 3 and torch.equal(state["w"], torch.ones(2))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_resume_repeats_the_uninterrupted_run(tmp_path):
    data = tiny_data()
    whole = train(TINY, "paper", out=tmp_path / "whole", max_steps=4, log_every=1, data=data, progress=False)
    train(TINY, "paper", out=tmp_path / "cut", max_steps=2, log_every=1, data=data, progress=False)
    state = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert state["step"] == 2 and state["batch_in_epoch"] == 2
    train(TINY, "paper", out=tmp_path / "cut", resume=True, max_steps=4, log_every=1, data=data, progress=False)
    assert whole["step"] == 4
    assert losses(tmp_path / "cut") == losses(tmp_path / "whole")  # bit for bit, across an epoch boundary


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    train(TINY, "torchvision", out=tmp_path, max_steps=1, log_every=1, data=tiny_data(), progress=False)
    before = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(NonFiniteLoss, match="last good checkpoint"):
        train(TINY, "torchvision", out=tmp_path, resume=True, max_steps=3, log_every=1,
              data=tiny_data(poison=True), progress=False)
    assert (tmp_path / "last.pt").read_bytes() == before


def _image_folder(root):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (36, 36, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_cli_trains_and_resumes(tmp_path, capsys):
    folder = _image_folder(tmp_path / "imgs")
    args = ["train", "--variant", "torchvision", "--dataset", str(folder), "--epochs", "1", "--batch-size", "4",
            "--image-size", "32", "--out", str(tmp_path / "run")]
    assert main(args + ["--max-steps", "1"]) == 0
    assert main(args + ["--resume"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["step"] == 3 and (tmp_path / "run" / "final.pt").is_file()
    assert main(["train", "--dataset", str(tmp_path / "nowhere"), "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_ddp_two_cpu_processes_over_gloo(tmp_path):
    folder = _image_folder(tmp_path / "imgs")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "utils", "train", "--variant", "torchvision", "--dataset", str(folder), "--epochs", "1",
           "--batch-size", "2", "--image-size", "32", "--max-steps", "2", "--out", str(tmp_path / "run")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert state["step"] == 2  # each of the 2 ranks took 2 steps on its half of the data
    assert len(losses(tmp_path / "run")) == 2  # only rank 0 writes


def test_default_model_trains_once_and_waits_for_a_concurrent_trainer(tmp_path):
    from utils.train import _train_once

    path, calls = tmp_path / "final.pt", []
    _train_once(path, lambda: (calls.append("fit"), path.write_text("x")))
    _train_once(path, lambda: calls.append("again"))
    assert calls == ["fit"] and not (tmp_path / "training.lock").exists()
    (tmp_path / "b").mkdir()
    other = tmp_path / "b" / "final.pt"
    (tmp_path / "b" / "training.lock").write_text("")  # someone else is training: wait, then load theirs
    import threading

    threading.Timer(0.2, lambda: other.write_text("theirs")).start()
    _train_once(other, lambda: calls.append("duplicate"), poll_s=0.05)
    assert calls == ["fit"] and other.read_text() == "theirs"


def test_kaiming_init_keeps_the_image_signal_that_caffe_init_loses():
    # The reason the paper variant trains with init="model": with BVLC's Caffe init (xavier FAN_IN,
    # bias 0.2) the activations of inception5b are almost the same for every image.
    from utils.train import build_model, signal_at_init

    images = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    spread = {}
    for init in ("model", "caffe"):
        torch.manual_seed(0)
        rows = signal_at_init(build_model("paper", 10, replace(TrainConfig(), init=init)), images)
        spread[init] = {r["layer"]: r["image_spread"] for r in rows}
    assert spread["model"]["inception5b"] > 5 * spread["caffe"]["inception5b"]
    assert spread["caffe"]["inception5b"] < spread["caffe"]["conv1"] / 10  # it fades with depth


def test_quick_recipe_gets_the_paper_variant_past_chance_in_250_steps(tmp_path):
    # The BN-free paper variant once sat at chance (10%) for a whole run; this guards the recipe.
    from utils.data import mnist
    from utils.train import quick_config, train

    torch.set_num_threads(2)
    result = train(quick_config("paper"), "paper", out=tmp_path, max_steps=250, data=mnist(32),
                   progress=False)
    last = result["history"][-1]  # a stalled run stays at 8-15%; working runs are past 50% here
    assert last["step"] == 250 and max(last["val_acc"], last["val_acc_polyak"]) > 0.35, result["history"]


def test_a_lock_left_by_a_killed_trainer_is_taken_over_at_once(tmp_path):
    import socket
    import subprocess

    from utils.train import _train_once

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process id that no longer runs
    path = tmp_path / "final.pt"
    (tmp_path / "training.lock").write_text(f"{socket.gethostname()} {dead.pid}")
    calls = []
    _train_once(path, lambda: (calls.append("fit"), path.write_text("x")), poll_s=60)  # would wait a minute
    assert calls == ["fit"] and not (tmp_path / "training.lock").exists()


def test_caffe_init_draws_fan_in_uniform_with_bvlc_biases():
    from utils.train import build_model

    torch.manual_seed(0)
    model = build_model("paper", 10, replace(TrainConfig(), init="caffe"))
    w = model.inception3a.branch3[1].conv.weight  # 5x5 conv from 16 channels: fan_in 16 * 25 = 400
    bound = (3 / 400) ** 0.5
    assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound
    assert abs(w.std().item() - bound / 3 ** 0.5) < 0.05 * bound  # uniform: std = bound / sqrt(3)
    assert torch.all(model.conv1.conv.bias == 0.2) and torch.all(model.aux1.fc1.bias == 0.2)
    for classifier in (model.fc, model.aux1.fc2, model.aux2.fc2):
        assert torch.all(classifier.bias == 0)
    fc = model.fc.weight  # 1024 inputs
    assert fc.abs().max() <= (3 / 1024) ** 0.5
