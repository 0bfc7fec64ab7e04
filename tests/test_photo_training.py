"""The photo model's sources, its log, its validation photos and the auxiliary heads' measurements."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch
from PIL import Image
from torch.optim.swa_utils import AveragedModel

from utils.network.arch import IMAGENET_MEAN, IMAGENET_STD
from utils.network.model import googlenet
from utils.training import imagenette, pretrained
from utils.training import photo_training as P
from utils.training.checkpoint import save_checkpoint
from utils.training.data import DataBundle, TensorImages
from utils.training.loop import build_model, total_loss
from utils.training.recipe import TrainConfig, imagenette_recipe


def _net(num_classes=10, seed=0):
    torch.manual_seed(seed)
    return build_model("paper", num_classes, TrainConfig())


def _write_checkpoint(path, num_classes=3):
    """A checkpoint as utils.training.train writes it, with averaged weights that differ from the raw ones."""
    config = imagenette_recipe(image_size=32)
    raw = _net(num_classes)
    averaged = AveragedModel(_net(num_classes, seed=1), use_buffers=True)
    history = [{"step": 10, "epoch": 1.0, "lr": 0.02, "train_loss": 2.0, "val_acc": 0.3, "val_acc_polyak": 0.35}]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, {"model": raw.state_dict(), "averaged": averaged.state_dict(), "config": asdict(config),
                           "variant": "paper", "dataset": "imagenette", "classes": ["a", "b", "c"][:num_classes],
                           "image_size": 32, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                           "history": history, "epoch": 1, "step": 10})
    return raw, averaged.module


def test_checkpoints_are_ordered_final_then_newest_snapshot_then_last(tmp_path):
    run, snaps = tmp_path / "r", tmp_path / "r_snapshots"
    for p in (run / "last.pt", run / "final.pt", snaps / "snap_01.pt", snaps / "snap_10.pt", snaps / "snap_02.pt",
              snaps / "notes.pt"):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    names = [p.relative_to(tmp_path).as_posix() for p in P.run_checkpoints("r", tmp_path)]
    assert names == ["r/final.pt", "r_snapshots/snap_10.pt", "r_snapshots/snap_02.pt", "r_snapshots/snap_01.pt",
                     "r/last.pt"]
    (run / "final.pt").unlink()
    assert P.run_checkpoints("r", tmp_path)[0].name == "snap_10.pt"


def test_checkpoint_gives_polyak_and_raw_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "RUNS", tmp_path)
    raw, averaged = _write_checkpoint(tmp_path / "r_snapshots" / "snap_01.pt")
    model, meta = pretrained.photo_model(prefer_shipped=False, run="r")
    polyak, raw_model, both_meta = P.load_checkpoint_models(tmp_path / "r_snapshots" / "snap_01.pt")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), averaged.eval()(x), atol=1e-6)  # §6: the averaged model is the one used
        assert torch.allclose(polyak(x), averaged.eval()(x), atol=1e-6)
        assert torch.allclose(raw_model(x), raw.eval()(x), atol=1e-6)
        assert not torch.allclose(model(x), raw_model(x))
    assert "snap_01.pt" in meta["source"] and meta["val_top1"] == 0.35 and meta["val_top1_raw"] == 0.3
    assert meta["aux_logits"] and meta["eval_crop_fraction"] == 0.875 and both_meta == meta


def test_no_model_says_how_to_train_one(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "RUNS", tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m utils train --dataset imagenette"):
        pretrained.photo_model(prefer_shipped=False, run="r")


def test_training_log_reads_the_run_folder_and_falls_back_to_the_manifest(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "RUNS", tmp_path)
    history = [{"step": s, "val_acc": 0.1 * s} for s in (1, 2, 3)]
    assert P.training_log({"history": history, "steps": [{"step": 10, "loss": 2.0}]}, run="r") == (
        history, [{"step": 10, "loss": 2.0}])
    (tmp_path / "r").mkdir()
    rows = [{"step": s, "val_acc": 0.2 * s} for s in (1, 2, 3, 4)]
    # the last line is half written, as while a run is going on
    (tmp_path / "r" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 5, "va')
    (tmp_path / "r" / "steps.jsonl").write_text(json.dumps({"step": 10, "loss": 1.5}) + "\n")
    epochs, steps = P.training_log({"history": history}, run="r")
    assert epochs == [{**r, "stage": 0} for r in rows] and steps == [{"step": 10, "loss": 1.5, "stage": 0}]


def _imagenette_folder(root, sizes=((40, 60), (50, 30))):
    """Imagenette's layout with constant-colour photos, so the expected pixels are known exactly."""
    colours = {}
    for split in ("train", "val"):
        for k, wnid in enumerate(imagenette.WNIDS):
            (root / split / wnid).mkdir(parents=True)
            for j, (h, w) in enumerate(sizes):
                colour = (20 * k + 5, 100 + 10 * j, 200 - 15 * k)
                Image.new("RGB", (w, h), colour).save(root / split / wnid / f"img{j}.png")
                colours[(split, k, j)] = colour
    return colours


def test_validation_photos_follow_the_manifest_protocol(tmp_path, monkeypatch):
    colours = _imagenette_folder(tmp_path / "inet")
    monkeypatch.setenv("GOOGLENET_DATA", str(tmp_path / "inet"))
    monkeypatch.setenv("GOOGLENET_CACHE", str(tmp_path / "cache"))
    images, labels = P.validation_photos(None, image_size=32, crop_fraction=0.8)
    assert images.shape == (20, 3, 32, 32) and labels.tolist() == [k for k in range(10) for _ in range(2)]
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    for i, (k, j) in enumerate((k, j) for k in range(10) for j in range(2)):
        expected = (torch.tensor(colours[("val", k, j)]) / 255 - mean) / std
        assert torch.allclose(images[i].mean((1, 2)), expected, atol=1e-5)
        assert torch.allclose(images[i].std((1, 2)), torch.zeros(3), atol=1e-5)  # a constant photo stays constant
    few, few_labels = P.validation_photos(5, image_size=32)
    assert few.shape == (5, 3, 32, 32) and few_labels.tolist() == [0, 2, 5, 7, 9]  # files 0, 5, 10, 14, 19 of 20
    with pytest.raises(ValueError, match="between 1 and 20"):
        P.validation_photos(21, image_size=32)


def test_missing_photos_give_none_and_a_message(tmp_path, monkeypatch):
    monkeypatch.delenv("GOOGLENET_DATA", raising=False)
    monkeypatch.setenv("GOOGLENET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(imagenette, "ROOT", tmp_path / "project")
    assert P.validation_photos(4, image_size=32) is None
    assert "GOOGLENET_DATA" in P.photos_missing() and "never download" in P.photos_missing()


def _manual_trunk(model, x):
    """The stem and modules up to (4a) and (4d), written out here rather than taken from the model's forward."""
    x = model.maxpool1(model.conv1(x))
    x = model.lrn1(x)
    x = model.lrn2(model.conv3(model.conv2(x)))
    x = model.maxpool3(model.inception3b(model.inception3a(model.maxpool2(x))))
    x4a = model.inception4a(x)
    x4d = model.inception4d(model.inception4c(model.inception4b(x4a)))
    return x4a, x4d


@torch.no_grad()
def test_head_accuracies_feed_each_head_its_own_module():
    model = _net().eval()
    x = torch.randn(24, 3, 32, 32)
    x4a, x4d = _manual_trunk(model, x)
    aux1, aux2 = model.aux1(x4a).argmax(1), model.aux2(x4d).argmax(1)
    main = model(x).argmax(1)
    acc = P.head_accuracies(model, x, aux1, batch_size=10)  # batches of 10, 10 and 4
    assert acc["aux1 (on 4a)"] == 1.0
    assert acc["aux2 (on 4d)"] == pytest.approx((aux2 == aux1).float().mean().item())
    assert acc["main"] == pytest.approx((main == aux1).float().mean().item())
    assert len(set(aux1.tolist())) > 1  # the labels are not one class, so 1.0 is not a coincidence


def test_aux_gradients_match_the_total_loss_of_section_5():
    x, y = torch.randn(6, 3, 32, 32), torch.randint(0, 10, (6,))
    rows = {r["layer"]: r for r in P.aux_gradients(_net(), x, y, layers=("conv1", "inception3a"), seed=3)}
    for aux_weight, column in ((0.3, "grad_total"), (0.0, "grad_main")):
        net = _net().train()
        torch.manual_seed(3)  # the same dropout masks
        total_loss(net(x), y, aux_weight).backward()
        for layer in ("conv1", "inception3a"):
            norm = torch.sqrt(sum((p.grad ** 2).sum() for p in net.get_submodule(layer).parameters())).item()
            assert rows[layer][column] == pytest.approx(norm, rel=1e-4)
    r = rows["conv1"]
    assert r["ratio"] == pytest.approx(r["grad_total"] / r["grad_main"])
    assert r["grad_total"] <= r["grad_main"] + r["grad_aux"] + 1e-9 and -1 <= r["cosine"] <= 1
    with pytest.raises(ValueError, match="no auxiliary heads"):
        P.aux_gradients(googlenet("paper", num_classes=10, aux_logits=False), x, y)


def test_short_runs_leave_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=g), torch.tensor([0, 1] * 4)
    data = DataBundle("tiny", TensorImages(x, y), TensorImages(x, y), ["0", "1"], 32, (0.5,), (0.5,))
    config = TrainConfig(batch_size=4, epochs=1, warmup_steps=1)
    runs = P.short_runs({"a b": config, "c": config}, data, steps=2, eval_every=1)
    assert list(runs) == ["a b", "c"] and [r["step"] for r in runs["a b"]] == [1, 2]
    assert runs["a b"] == [{**r, "seconds": runs["a b"][i]["seconds"]} for i, r in enumerate(runs["c"])]
    assert list(tmp_path.iterdir()) == []
    assert np.isfinite([r["train_loss"] for r in runs["c"]]).all()


def test_recipe_of_reads_the_description_recipe_or_falls_back():
    config = imagenette_recipe(epochs=3)
    assert P.recipe_of({"recipe": asdict(config)}) == config  # a checkpoint's config, tuples and all
    assert P.recipe_of({"config": asdict(config)}) == imagenette_recipe()  # a description has no "config"
    assert P.recipe_of({"recipe": json.loads(json.dumps(asdict(config)))}) == config
    assert P.recipe_of({"recipe": "imagenette_recipe()"}) == imagenette_recipe()


def test_learning_rates_follow_each_stage_of_a_warm_restart(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "RUNS", tmp_path)
    first = asdict(replace(imagenette_recipe(), lr=0.02, warmup_steps=2, epochs=2))
    second = asdict(replace(imagenette_recipe(), lr=0.01, warmup_steps=2, epochs=1))
    for name, config, origin in (("a", first, None), ("b", second, {"path": str(tmp_path / "a" / "final.pt")})):
        (tmp_path / name).mkdir()
        rows = [{"step": 3 * (e + 1), "epoch": float(e + 1), "val_acc": 0.5, "seconds": 1.0 + e}
                for e in range(config["epochs"])]
        (tmp_path / name / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        torch.save({"config": config, "variant": "paper", "start_from": origin}, tmp_path / name / "final.pt")
    rates = P.learning_rates("b")
    assert [s for s, _ in rates] == list(range(9))  # 2 epochs of 3 steps, then 1 epoch
    # by hand: warm-up (s + 1) / 2, then a half cosine over the steps after it; the restart warms up again
    expected = [0.01, 0.02, 0.02, 0.02 * 0.5 * (1 + np.cos(np.pi / 4)), 0.01, 0.02 * 0.5 * (1 + np.cos(np.pi * 3 / 4)),
                0.005, 0.01, 0.01]
    np.testing.assert_allclose([r for _, r in rates], expected, rtol=1e-12)
    epochs, _ = P.training_log({}, run="b")
    assert [(r["stage"], r["epoch"], r["step"]) for r in epochs] == [(0, 1.0, 3), (0, 2.0, 6), (1, 3.0, 9)]
    # each stage's recipe, from the run folders, then from a manifest alone
    assert [(name, c.epochs, c.lr) for name, c in P.stage_recipes({}, run="b")] == [("a", 2, 0.02), ("b", 1, 0.01)]
    manifest = {"stages": [{"run": "a", "recipe": first}, {"run": "b", "recipe": second}], "recipe": second}
    monkeypatch.setattr(P, "RUNS", tmp_path / "elsewhere")
    assert [(name, c.epochs) for name, c in P.stage_recipes(manifest, run="b")] == [("a", 2), ("b", 1)]
    assert [(name, c.epochs) for name, c in P.stage_recipes({"recipe": second}, run="b")] == [("b", 1)]


def test_the_commands_the_message_gives_are_the_shipped_models():
    from utils.paths import ASSETS

    shipped = json.loads((ASSETS / "googlenet_imagenette.json").read_text())["command"].split(" && ")
    assert len(shipped) == len(P.TRAIN_COMMANDS) == 4
    for ours, recorded in zip(P.TRAIN_COMMANDS, shipped, strict=True):
        flags = lambda cmd: {tuple(part.split()[:2]) for part in cmd.split(" --")[1:]}  # noqa: E731
        assert flags(ours) <= flags(recorded), (ours, recorded)
    assert P.RUN_NAME in shipped[-1] and P.FIRST_RUN in shipped[0]
