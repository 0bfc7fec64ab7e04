"""Which network the reader sees (utils.training.pretrained.reader_model): BVLC's weights, then torchvision's
ImageNet weights, then the shipped Imagenette model; never a training run. Every selector of the registry
describes the weights it returns with the same WeightsInfo.

Temporary files stand in for all three, found where the real ones are looked for ($GOOGLENET_CACHE,
$GOOGLENET_WEIGHTS, utils.network.shipped.SHIPPED); the runs folder is an empty temporary one, and any
backward pass fails the test.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import utils.network.shipped
import utils.paths
from utils.network.model import googlenet
from utils.network.weights_info import WeightsInfo
from utils.training.imagenette import NAMES, WNIDS
from utils.training.pretrained import candidates, reader_model


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """One stand-in per kind, kept aside; tests copy the ones they need into place."""
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    bvlc = root / "bvlc_googlenet.pt"  # the state dict utils.network.caffe's converter writes
    torch.save(googlenet("paper", num_classes=1000, aux_logits=True).state_dict(), bvlc)
    imagenet = root / "googlenet-1378be20.pth"  # torchvision's layout
    torch.save(googlenet("torchvision", num_classes=1000, aux_logits=True).state_dict(), imagenet)
    ship = root / "googlenet_imagenette.pt"  # fp16, no aux heads, with its manifest
    sd = googlenet("paper", num_classes=10, aux_logits=False, transform_input=False).state_dict()
    torch.save({k: v.half() for k, v in sd.items()}, ship)
    manifest = {"file": ship.name, "sha256": hashlib.sha256(ship.read_bytes()).hexdigest(), "variant": "paper",
                "num_classes": 10, "classes": list(WNIDS), "names": list(NAMES), "image_size": 112,
                "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "val_top1": 0.8123,
                "eval_crop_fraction": 0.875, "dataset": "imagenette"}
    ship.with_suffix(".json").write_text(json.dumps(manifest))
    return {"bvlc": bvlc, "imagenet": imagenet, "shipped": ship}


@pytest.fixture(autouse=True)
def places(tmp_path, monkeypatch) -> dict[str, Path]:
    """Empty default places for all three kinds, an empty runs folder, and no training possible."""
    cache, runs, assets = tmp_path / "cache", tmp_path / "runs", tmp_path / "assets"
    for d in (cache, runs, assets):
        d.mkdir()
    monkeypatch.setenv("GOOGLENET_CACHE", str(cache))
    monkeypatch.delenv("GOOGLENET_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # torchvision's cache: empty
    monkeypatch.setattr(utils.network.shipped, "SHIPPED", assets / "googlenet_imagenette.pt")
    monkeypatch.setattr(utils.paths, "RUNS", runs)
    # wherever the training code keeps its copy
    for name in ("utils.training.train", "utils.training.loop", "utils.training.cache"):
        module = __import__(name, fromlist=["RUNS"]) if _importable(name) else None
        if module is not None and hasattr(module, "RUNS"):
            monkeypatch.setattr(module, "RUNS", runs)

    def no_training(*args, **kwargs):
        raise AssertionError("a backward pass ran: the reader's network must never be trained")

    monkeypatch.setattr(torch.Tensor, "backward", no_training)
    yield {"bvlc": cache / "bvlc_googlenet.pt", "imagenet": tmp_path / "imagenet.pth",
           "shipped": assets / "googlenet_imagenette.pt", "runs": runs, "env": monkeypatch}
    assert not any(runs.iterdir()), "something was written to the runs folder"


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _put(kind: str, files: dict, places: dict) -> None:
    shutil.copy(files[kind], places[kind])
    if kind == "shipped":
        shutil.copy(files[kind].with_suffix(".json"), places[kind].with_suffix(".json"))
    if kind == "imagenet":
        places["env"].setenv("GOOGLENET_WEIGHTS", str(places[kind]))


def test_order_bvlc_then_torchvision_then_shipped(files, places):
    for kind in ("shipped", "imagenet", "bvlc"):
        _put(kind, files, places)
    assert [c.kind for c in candidates()] == ["bvlc", "imagenet", "shipped"]

    model, meta = reader_model()
    assert meta["kind"] == "bvlc" and meta["variant"] == "paper" and not model.training
    assert "BVLC" in meta["source"] and str(places["bvlc"]) in meta["source"]
    assert len(meta["classes"]) == 1000 and meta["image_size"] == 224
    # Caffe's input is x * 255 - mean (R 123, G 117, B 104); the preprocess must equal it
    x = torch.rand(2, 3, 8, 8)
    caffe = x * 255 - torch.tensor([123.0, 117.0, 104.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(meta.preprocess(x), caffe, rtol=0, atol=1e-3)

    places["bvlc"].unlink()
    model, meta = reader_model()
    assert meta["kind"] == "imagenet" and meta["variant"] == "torchvision" and "torchvision" in meta["source"]
    assert meta["classes"][0] == "tench" and model.aux1 is None and not model.training

    places["imagenet"].unlink()
    model, meta = reader_model()
    assert meta["kind"] == "shipped" and meta["variant"] == "paper" and meta["image_size"] == 112
    assert "shipped Imagenette model" in meta["source"] and "81.2%" in meta["source"]
    assert meta["classes"] == tuple(WNIDS) and meta["names"] == tuple(NAMES)
    x = torch.rand(1, 3, 112, 112)
    mean, std = torch.tensor(meta["mean"]).view(1, 3, 1, 1), torch.tensor(meta["std"]).view(1, 3, 1, 1)
    torch.testing.assert_close(meta.preprocess(x), (x - mean) / std)
    with torch.no_grad():
        assert model(meta.preprocess(x)).shape == (1, 10)


def test_arguments_replace_the_default_places(files, places):
    _put("shipped", files, places)
    _, meta = reader_model(bvlc=places["bvlc"], imagenet=files["imagenet"])  # no BVLC file there: skipped
    assert meta["kind"] == "imagenet" and meta["path"] == files["imagenet"]
    _, meta = reader_model(bvlc=files["bvlc"])
    assert meta["kind"] == "bvlc"


def test_nothing_on_disk_is_an_error_not_a_training_run(places):
    with pytest.raises(FileNotFoundError, match=r"git checkout.*download-bvlc.*GOOGLENET_WEIGHTS") as err:
        reader_model()
    assert "\n" not in str(err.value)


def test_shipped_model_is_used_without_training(files, places):
    _put("shipped", files, places)
    model, meta = reader_model()
    assert meta["kind"] == "shipped" and not model.training  # the autouse fixture checks runs/ and backward


def test_a_damaged_shipped_model_is_refused(files, places):
    _put("shipped", files, places)
    places["shipped"].write_bytes(places["shipped"].read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ValueError, match="SHA-256"):
        reader_model()


def test_activations_use_the_same_order(files, places):
    from utils.training.pretrained import load_model

    _put("shipped", files, places)
    _, info = load_model()
    assert "shipped Imagenette model" in info["source"] and info["image_size"] == 112
    _put("bvlc", files, places)
    _, info = load_model()
    assert "BVLC" in info["source"]


def test_activations_command_says_which_weights(files, places, tmp_path, capsys):
    from utils.__main__ import main

    _put("shipped", files, places)
    image = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((90, 120, 3)) * 255).astype(np.uint8)).save(image)
    out = tmp_path / "branches.png"
    assert main(["activations", "--image", str(image), "--module", "inception3a", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "shipped Imagenette model" in printed and out.is_file()


def test_every_selector_describes_the_weights_with_one_type(files, places, tmp_path):
    """The registry's entry points return the same WeightsInfo for the same weights: one shape, whichever
    selector chose them."""
    from utils.training import photo_training, pretrained

    _put("shipped", files, places)
    selectors = {"reader_model": pretrained.reader_model, "load_model": pretrained.load_model,
                 "photo_model": pretrained.photo_model}
    infos = {name: select()[1] for name, select in selectors.items()}
    for name, info in infos.items():
        assert type(info) is WeightsInfo, name
        assert info == infos["reader_model"], name
        assert info.kind == "shipped" and info.path == places["shipped"] and info.val_top1 == 0.8123, name
    # a checkpoint is described by the same type, with the same keys, whichever way it is loaded
    snapshot = tmp_path / "r_snapshots" / "snap_02.pt"
    snapshot.parent.mkdir()
    net = googlenet("paper", num_classes=10, aux_logits=True, transform_input=False).state_dict()
    torch.save({"model": net, "averaged": {"module." + k: v for k, v in net.items()}, "variant": "paper",
                "dataset": "imagenette", "classes": list(WNIDS), "image_size": 112, "mean": [0.4] * 3,
                "std": [0.2] * 3, "config": {"eval_crop_fraction": 0.8},
                "history": [{"epoch": 2.0, "val_acc": 0.4, "val_acc_polyak": 0.5, "seconds": 9.0}]}, snapshot)
    _, by_snapshot = pretrained.load_snapshot(snapshot)
    _, _, by_checkpoint = photo_training.load_checkpoint_models(snapshot)
    assert type(by_snapshot) is WeightsInfo and by_snapshot == by_checkpoint
    assert list(by_snapshot) == list(infos["reader_model"])
    assert (by_snapshot.kind, by_snapshot.epoch, by_snapshot.val_top1, by_snapshot.val_top1_raw) == ("checkpoint", 2,
                                                                                                     0.5, 0.4)
    assert by_snapshot.names == tuple(NAMES) and by_snapshot.eval_crop_fraction == 0.8
