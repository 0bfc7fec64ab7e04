"""The shipped model (utils.network.shipped): export of a run's Polyak-averaged weights to fp16 with a manifest,
val top-1 by the manifest's protocol, and the loader's SHA-256 check.

The run is fake and small: an untrained 10-class paper variant whose averaged weights differ from its
raw ones, in a ``final.pt`` laid out as utils.training.train writes it, beside a generated Imagenette folder.
The protocol is recomputed here with PIL, independently of the code under test.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.optim.swa_utils import AveragedModel

from utils.network import images, shipped
from utils.network.model import googlenet
from utils.training import export
from utils.training.imagenette import NAMES, WNIDS
from utils.training.recipe import imagenette_recipe

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIZE = 32  # image_size of the fake run; the protocol resizes to round(32 / 0.875) = 37


def _photo(seed: int, h: int, w: int) -> Image.Image:
    """A steep colour gradient plus a bright square, different per seed: a crop one pixel off shows."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([rng.uniform(1.5, 4) * x + rng.uniform(-2, 2) * y + rng.uniform(0, 60) for _ in range(3)], -1)
    for _ in range(6):  # small bright squares: sharp edges that resampling must filter
        top, left = rng.integers(0, h - 6), rng.integers(0, w - 6)
        img[top:top + 6, left:left + 6] = rng.uniform(150, 255, size=3)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Imagenette's layout with 2 validation photos per class, 80x104 (landscape) and 112x88 (portrait):
    shrunk to 37 px by about half, so that leaving out the antialiasing shows."""
    root = tmp_path_factory.mktemp("imagenette")
    for k, wnid in enumerate(WNIDS):
        (root / "train" / wnid).mkdir(parents=True)
        (root / "val" / wnid).mkdir(parents=True)
        _photo(100 + k, 40, 52).save(root / "train" / wnid / "t.JPEG", quality=95)
        _photo(k, 80, 104).save(root / "val" / wnid / "a.JPEG", quality=95)
        _photo(50 + k, 112, 88).save(root / "val" / wnid / "b.JPEG", quality=95)
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, dict]:
    """A finished run's folder with final.pt as utils.training.train writes it; returns (folder, averaged weights)."""
    folder = tmp_path_factory.mktemp("run") / "imagenette_paper_seed0"
    folder.mkdir()
    torch.manual_seed(0)
    model = googlenet("paper", num_classes=10, aux_logits=True, transform_input=False)
    averaged = AveragedModel(model, use_buffers=True)
    with torch.no_grad():  # the raw weights move on after the average was taken: they must not be shipped
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    config = asdict(imagenette_recipe(image_size=SIZE, epochs=2))
    history = [{"step": 2, "epoch": 1.0, "lr": 0.01, "train_loss": 2.3, "val_acc": 0.1, "val_acc_polyak": None,
                "seconds": 4.0},
               {"step": 4, "epoch": 2.0, "lr": 0.0, "train_loss": 2.2, "val_acc": 0.15, "val_acc_polyak": 0.2,
                "seconds": 8.5}]
    state = {"model": model.state_dict(), "averaged": averaged.state_dict(), "config": config, "variant": "paper",
             "dataset": "imagenette", "classes": list(WNIDS), "image_size": SIZE, "mean": list(MEAN),
             "std": list(STD), "history": history}
    torch.save(state, folder / "final.pt")
    weights = {k.removeprefix("module."): v for k, v in averaged.state_dict().items() if k.startswith("module.")}
    return folder, weights


@pytest.fixture(scope="module")
def exported(run, photos, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("assets") / "googlenet_imagenette.pt"
    manifest = export.export_model(run[0], out, data=photos, progress=False)
    return out, manifest


# ----------------------------------------------------------------------------- the protocol, independently
def _reference_input(path: Path) -> np.ndarray:
    """The manifest's protocol with PIL: shorter side to 37 (bilinear; PIL filters when shrinking),
    centre 32x32, (x / 255 - mean) / std. Returns (3, 32, 32)."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    short = round(SIZE / 0.875)
    size = (short, int(short * h / w)) if w < h else (int(short * w / h), short)
    img = img.resize(size, Image.BILINEAR)
    left, top = round((size[0] - SIZE) / 2), round((size[1] - SIZE) / 2)
    x = np.asarray(img, dtype=np.float64)[top:top + SIZE, left:left + SIZE] / 255.0
    return ((x - MEAN) / STD).transpose(2, 0, 1)


def test_protocol_input_matches_an_independent_computation(photos):
    for path in (photos / "val" / WNIDS[0] / "a.JPEG", photos / "val" / WNIDS[3] / "b.JPEG"):
        pixels = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)
        got = images.protocol_input(pixels, SIZE, 0.875, MEAN, STD)
        ref = _reference_input(path)
        assert got.shape == (3, SIZE, SIZE) and got.dtype == torch.float32
        # PIL and torch agree to within a grey level (measured: mean 2e-5, max 0.018 in normalised
        # units); a crop one pixel off, a resize to 36 or no antialiasing differ by 0.01 on average
        # and 0.6 or more at the squares' edges
        diff = np.abs(got.numpy() - ref)
        assert diff.mean() < 0.002 and diff.max() < 0.1, (path, diff.mean(), diff.max())


# ----------------------------------------------------------------------------- export
def test_export_writes_fp16_weights_of_the_polyak_average(run, exported):
    out, manifest = exported
    _, averaged = run
    assert out.stat().st_size <= shipped.MAX_BYTES == 16 * 2**20
    weights = torch.load(out, weights_only=True)
    assert all(v.dtype == torch.float16 for v in weights.values() if v.is_floating_point())
    # 10.3 M parameters with the aux heads are 19.7 MiB in fp16: over budget, so they are dropped (§5)
    assert not any(k.startswith(("aux1.", "aux2.")) for k in weights) and manifest["aux_logits"] is False
    assert set(weights) == {k for k in averaged if not k.startswith(("aux1.", "aux2."))}
    for k, v in weights.items():
        assert torch.equal(v, averaged[k].half()), f"{k} is not the Polyak average"
    assert not list(out.parent.glob("*.tmp")) and not list(out.parent.glob(".*.tmp"))


def test_aux_heads_are_kept_when_they_fit(run, photos, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "MAX_BYTES", 64 * 2**20)
    out = tmp_path / "with_aux.pt"
    manifest = export.export_model(run[0], out, data=photos, progress=False)
    assert manifest["aux_logits"] is True
    assert any(k.startswith("aux1.") for k in torch.load(out, weights_only=True))
    model, _ = shipped.load_shipped(out)
    assert model.aux1 is not None and not model.training


def test_manifest_describes_the_file_and_the_model(run, exported):
    out, m = exported
    assert json.loads(out.with_suffix(".json").read_text()) == m
    assert m["file"] == out.name and m["bytes"] == out.stat().st_size
    assert m["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert (m["variant"], m["num_classes"], m["dataset"]) == ("paper", 10, "imagenette")
    assert m["classes"] == list(WNIDS) and m["names"] == list(NAMES) and m["names"][0] == "tench"
    assert (m["image_size"], m["mean"], m["std"]) == (SIZE, list(MEAN), list(STD))
    assert m["eval_crop_fraction"] == 0.875 and m["val_images"] == 20
    assert m["recipe"] == json.loads(json.dumps(asdict(imagenette_recipe(image_size=SIZE, epochs=2))))
    assert [(h["epoch"], h["val_acc"]) for h in m["history"]] == [(1.0, 0.1), (2.0, 0.15)]
    assert m["training_seconds"] == 8.5
    cmd = m["command"]
    assert cmd.startswith("python -m utils train --dataset imagenette --variant paper --out ")
    assert "--epochs 2" in cmd and f"--image-size {SIZE}" in cmd and "--polyak-eval-last 1" in cmd
    assert "--lr" not in cmd  # the recipe's own values need no flag


def test_val_top1_is_measured_on_the_written_file_by_the_protocol(run, photos, exported, monkeypatch):
    out, m = exported
    # independently: the fp16 file loaded into a float32 network here, inputs made with PIL
    model = googlenet("paper", num_classes=10, aux_logits=False, transform_input=False)
    model.load_state_dict({k: v.float() for k, v in torch.load(out, weights_only=True).items()})
    model.eval()
    files = [(photos / "val" / w / f, k) for k, w in enumerate(WNIDS) for f in ("a.JPEG", "b.JPEG")]
    x = torch.tensor(np.stack([_reference_input(f) for f, _ in files]), dtype=torch.float32)
    with torch.no_grad():
        logits = model(x)
    labels = torch.tensor([k for _, k in files])
    ours = (logits.argmax(1) == labels).float().mean().item()
    top2 = logits.topk(2, 1).values
    near_ties = int(((top2[:, 0] - top2[:, 1]) < 1e-3 * top2.abs().max()).sum())  # PIL vs torch may flip these
    assert abs(m["val_top1"] - ours) <= near_ties / len(files) + 1e-6
    assert m["val_correct"] == round(m["val_top1"] * 20)

    # and the number comes from the weights read back from disk (fp16), not from the float32 average
    seen = []
    real_build = export.build

    def spy(variant, num_classes, weights):
        seen.append({v.dtype for v in weights.values() if v.is_floating_point()})
        return real_build(variant, num_classes, weights)

    monkeypatch.setattr(export, "build", spy)
    export.export_model(run[0], out.with_name("again.pt"), data=photos, progress=False)
    assert seen == [{torch.float16}]


def test_export_refuses_an_unfinished_run_and_a_bad_out(tmp_path, run):
    (tmp_path / "unfinished").mkdir()
    with pytest.raises(FileNotFoundError, match=r"final\.pt.*--resume"):
        export.export_model(tmp_path / "unfinished", tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"must end in \.pt"):
        export.export_model(run[0], tmp_path / "m.pth")
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        export.export_model(run[0], tmp_path / "no" / "m.pt")


# ----------------------------------------------------------------------------- load
def test_load_round_trip(run, exported):
    out, m = exported
    model, meta = shipped.load_shipped(out)
    assert not model.training and meta["sha256"] == m["sha256"] and meta["path"] == out
    assert meta["mean"] == MEAN and meta["std"] == STD
    _, averaged = run
    for k, v in model.state_dict().items():
        assert v.dtype == torch.float32 and torch.equal(v, averaged[k].half().float()), k
    with torch.no_grad():
        assert model(torch.zeros(1, 3, SIZE, SIZE)).shape == (1, 10)


def test_load_refuses_a_file_that_is_not_the_manifests(exported, tmp_path):
    out, _ = exported
    copy = tmp_path / out.name
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte deep in the weights
    copy.write_bytes(bytes(data))
    copy.with_suffix(".json").write_text(out.with_suffix(".json").read_text())
    with pytest.raises(ValueError, match="SHA-256") as err:
        shipped.load_shipped(copy)
    assert "\n" not in str(err.value) and "export-model" in str(err.value)


@pytest.mark.parametrize("damage", ["removed", "empty"])
def test_load_refuses_a_manifest_without_a_hash_to_check(exported, tmp_path, damage):
    # a manifest that names no SHA-256 cannot vouch for any file: loading must not skip the check
    out, _ = exported
    copy = tmp_path / out.name
    copy.write_bytes(out.read_bytes())
    manifest = json.loads(out.with_suffix(".json").read_text())
    if damage == "removed":
        del manifest["sha256"]
    else:
        manifest["sha256"] = ""
    copy.with_suffix(".json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="SHA-256"):
        shipped.load_shipped(copy)


def test_load_says_how_to_get_a_missing_file(exported, tmp_path):
    out, _ = exported
    with pytest.raises(FileNotFoundError, match=r"git checkout.*export-model") as err:
        shipped.load_shipped(tmp_path / "googlenet_imagenette.pt")
    assert "\n" not in str(err.value)
    lonely = tmp_path / "lonely.pt"  # weights without their manifest cannot be checked
    lonely.write_bytes(out.read_bytes())
    with pytest.raises(FileNotFoundError, match=r"lonely\.json"):
        shipped.load_shipped(lonely)


# ----------------------------------------------------------------------------- command line
def test_export_command(run, photos, tmp_path, capsys):
    from utils.__main__ import main

    out = tmp_path / "model.pt"
    assert main(["export-model", str(run[0]), "--out", str(out), "--data", str(photos), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "val top-1" in printed and "20 photos" in printed and out.with_suffix(".json").is_file()
    assert main(["export-model", str(tmp_path), "--out", str(out), "--data", str(photos)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no ") and "final.pt" in err and "\n" not in err


def test_a_warm_restart_ships_with_its_whole_history_and_both_commands(run, photos, tmp_path):
    parent = run[0] / "final.pt"
    state = torch.load(parent, weights_only=True)
    folder = tmp_path / "imagenette_paper_restart"
    folder.mkdir()
    restart = {**state, "config": {**state["config"], "epochs": 1, "lr": 0.005, "seed": 1},
               "history": [{"step": 2, "epoch": 1.0, "val_acc": 0.3, "val_acc_polyak": 0.25, "seconds": 5.0}],
               "start_from": {"path": str(parent), "step": 4, "seconds": 8.5}}
    torch.save(restart, folder / "final.pt")
    manifest = export.export_model(folder, tmp_path / "m.pt", data=photos, progress=False)
    # the parent's two epochs (4 and 8.5 s), then the restart's, counted on from them
    assert [(h["epoch"], h["val_acc"], h["seconds"], h["stage"]) for h in manifest["history"]] == [
        (1.0, 0.1, 4.0, 0), (2.0, 0.15, 8.5, 0), (3.0, 0.3, 13.5, 1)]
    first, second = manifest["command"].split(" && ")
    assert f"--out {run[0]}" in first and "--start-from" not in first
    assert f"--start-from {parent}" in second and "--epochs 1" in second and "--lr 0.005" in second
    assert [(s["run"], s["first_epoch"], s["epochs"]) for s in manifest["stages"]] == [
        ("imagenette_paper_seed0", 0.0, 2), ("imagenette_paper_restart", 2.0, 1)]


def test_export_at_a_larger_test_size_measures_by_that_size(run, photos, tmp_path, monkeypatch):
    seen = []
    real = images.protocol_input
    monkeypatch.setattr(export, "protocol_input", lambda img, size, *a: seen.append(size) or real(img, size, *a))
    m = export.export_model(run[0], tmp_path / "big.pt", data=photos, progress=False, image_size=48,
                            selected_on="photos held out from training")
    assert (m["image_size"], m["train_image_size"]) == (48, SIZE) and set(seen) == {48}
    assert m["image_size_selected_on"] == "photos held out from training"
    assert "round(image_size / eval_crop_fraction) = 55 px" in m["eval_protocol"]  # 48 / 0.875 = 54.9
    with pytest.raises(ValueError, match="below GoogLeNet's minimum"):
        export.export_model(run[0], tmp_path / "small.pt", data=photos, progress=False, image_size=16)


def test_a_test_size_other_than_the_training_size_must_say_how_it_was_chosen(run, photos, tmp_path):
    with pytest.raises(ValueError, match="--selected-on"):
        export.export_model(run[0], tmp_path / "tuned.pt", data=photos, progress=False, image_size=48)
    assert not (tmp_path / "tuned.pt").exists()
    m = export.export_model(run[0], tmp_path / "plain.pt", data=photos, progress=False)
    assert m["image_size"] == SIZE and "training image size" in m["image_size_selected_on"]


def test_a_run_started_from_a_shipped_model_ships_with_the_shipped_history_first(run, photos, tmp_path):
    from utils.training.loop import load_start

    first = export.export_model(run[0], tmp_path / "first.pt", data=photos, progress=False)
    warm = load_start(tmp_path / "first.pt", "paper")
    assert warm["classes"] == list(WNIDS) and warm["origin"]["shipped"]["sha256"] == first["sha256"]
    assert not any(k.startswith(("aux1.", "aux2.")) for k in warm["model"]) or first["aux_logits"]
    state = torch.load(run[0] / "final.pt", weights_only=True)
    folder = tmp_path / "imagenette_paper_restart2"
    folder.mkdir()
    torch.save({**state, "config": {**state["config"], "epochs": 1, "lr": 0.005, "seed": 2},
                "history": [{"step": 2, "epoch": 1.0, "val_acc": 0.4, "val_acc_polyak": None, "seconds": 3.0}],
                "start_from": warm["origin"]}, folder / "final.pt")
    m = export.export_model(folder, tmp_path / "second.pt", data=photos, progress=False)
    # the first model's two epochs (4 and 8.5 s, one stage), then this run's, counted on from them
    assert [(h["epoch"], h["val_acc"], h["seconds"], h["stage"]) for h in m["history"]] == [
        (1.0, 0.1, 4.0, 0), (2.0, 0.15, 8.5, 0), (3.0, 0.4, 11.5, 1)]
    assert m["command"].startswith(first["command"] + " && ") and "--lr 0.005" in m["command"]
    given = export.export_model(folder, tmp_path / "third.pt", data=photos, progress=False, command="A && B")
    assert given["command"] == "A && B"  # a command the user gives is recorded as given
    assert m["stages"][-1]["first_epoch"] == 2.0 and first["sha256"][:16] in m["stages"][-1]["start_from"]
