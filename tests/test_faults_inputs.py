"""Bad files and bad values get one clear line, never a traceback or a silent wrong result: a checkpoint
or shipped model with NaN weights, a manifest with a wrong or missing field, a truncated or non-weights
shipped file, junk given as a snapshot, a huge image (Pillow's DecompressionBombError), a seed too
large, size or crop fraction 0, and benchmark outputs that cannot be written."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import torch

from utils.__main__ import main
from utils.files import file_digest
from utils.network import images, shipped
from utils.network.model import googlenet
from utils.training.checkpoint import load_checkpoint, load_training_checkpoint


def cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


# ----------------------------------------------------------------------------- checkpoints
def test_a_checkpoint_with_a_nan_inside_a_tensor_is_refused(tmp_path):
    model = torch.nn.Linear(4, 3)
    state = {"model": model.state_dict(), "averaged": {"module.weight": model.weight.detach().clone(),
                                                       "n_averaged": torch.tensor(3)}, "step": 5}
    path = tmp_path / "last.pt"
    torch.save(state, path)
    assert load_checkpoint(path)["step"] == 5
    state["averaged"]["module.weight"][1, 2] = float("nan")  # what a damaged byte inside the tensor becomes
    torch.save(state, path)
    for load in (load_checkpoint, load_training_checkpoint):
        with pytest.raises(ValueError, match=r"NaN or infinite.*averaged\.module\.weight") as err:
            load(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_load_snapshot_on_junk_says_what_it_is(tmp_path):
    from utils.training.pretrained import load_snapshot

    junk = tmp_path / "snap_01.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        load_snapshot(junk)
    torch.save({"model": {}}, junk)  # a torch file, but not a training checkpoint
    with pytest.raises(ValueError, match="lacks averaged"):
        load_snapshot(junk)


# ----------------------------------------------------------------------------- the shipped model
@pytest.fixture
def tiny_shipped(tmp_path) -> Path:
    """A small shipped model (torchvision variant, 2 classes, no aux heads) and a valid manifest."""
    torch.manual_seed(0)
    weights = shipped.to_fp16(googlenet("torchvision", num_classes=2, aux_logits=False).state_dict())
    path = tmp_path / "m.pt"
    torch.save(weights, path)
    write_manifest(path, {"file": path.name, "variant": "torchvision", "num_classes": 2, "classes": ["a", "b"],
                          "names": ["a", "b"], "image_size": 32, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
                          "eval_crop_fraction": 0.875, "val_top1": 0.5})
    return path


def write_manifest(path: Path, meta: dict) -> None:
    shipped.manifest_path(path).write_text(json.dumps({**meta, "sha256": file_digest(path)}))


def test_the_tiny_shipped_model_loads(tiny_shipped):
    model, meta = shipped.load_shipped(tiny_shipped)
    assert meta["num_classes"] == 2 and not model.training


@pytest.mark.parametrize("change, needle", [
    ({"mean": [0.5]}, "mean is [0.5], expected three numbers"),
    ({"std": [0.2, 0.0, 0.2]}, "std is"),
    ({"num_classes": "2"}, "num_classes is"),
    ({"classes": ["a"]}, "classes is"),
    ({"image_size": 0}, "image_size is 0"),
    ({"eval_crop_fraction": 0}, "eval_crop_fraction is 0"),
    ({"variant": "resnet"}, "variant is"),
    ({"variant": None}, "lacks the field 'variant'"),
], ids=["mean length", "std zero", "num_classes type", "classes length", "image_size", "crop fraction",
        "variant", "no variant"])
def test_a_manifest_field_out_of_range_is_named_with_its_file(tiny_shipped, change, needle):
    meta = json.loads(shipped.manifest_path(tiny_shipped).read_text())
    meta.update(change)
    meta = {k: v for k, v in meta.items() if v is not None}
    write_manifest(tiny_shipped, meta)  # the sha256 recomputed: only the field is wrong
    with pytest.raises(ValueError) as err:
        shipped.load_shipped(tiny_shipped)
    assert needle in str(err.value) and "m.json" in str(err.value) and "\n" not in str(err.value)


def test_a_manifest_that_is_not_json_names_its_file(tiny_shipped):
    shipped.manifest_path(tiny_shipped).write_text('{"variant": "paper",')
    with pytest.raises(ValueError, match=r"m\.json is not valid JSON"):
        shipped.load_shipped(tiny_shipped)


@pytest.mark.parametrize("damage", ["nan", "truncated", "not weights"])
def test_a_shipped_file_that_is_not_sound_weights_is_refused(tiny_shipped, damage):
    meta = json.loads(shipped.manifest_path(tiny_shipped).read_text())
    if damage == "nan":
        weights = torch.load(tiny_shipped, weights_only=True)
        weights["fc.weight"][0, 0] = float("nan")
        torch.save(weights, tiny_shipped)
    elif damage == "truncated":
        tiny_shipped.write_bytes(tiny_shipped.read_bytes()[:5000])
    else:
        torch.save([1, 2, 3], tiny_shipped)
    write_manifest(tiny_shipped, meta)  # a manifest that vouches for the damaged file
    with pytest.raises(ValueError) as err:
        shipped.load_shipped(tiny_shipped)
    message = str(err.value)
    assert str(tiny_shipped) in message and "\n" not in message
    assert {"nan": "NaN", "truncated": "not a readable weights file", "not weights": "state dict"}[damage] in message


def test_size_and_crop_fraction_zero_are_refused():
    image = torch.zeros(3, 40, 40, dtype=torch.uint8)
    with pytest.raises(ValueError, match="eval_crop_fraction must be in"):
        images.protocol_input(image, 32, 0, (0.5,) * 3, (0.5,) * 3)
    with pytest.raises(ValueError, match="image_size must be a positive"):
        images.protocol_input(image, 0, 0.875, (0.5,) * 3, (0.5,) * 3)


def test_validation_photos_refuses_zero_or_negative_counts_and_sizes(tmp_path):
    from test_imagenette import make_imagenette

    from utils.results.photo_results import validation_photos

    folder = make_imagenette(tmp_path / "imagenette", 1, 2)
    assert len(validation_photos(size=32, num=3, data=folder, progress=False)[0]) == 3
    for num in (0, -1):
        with pytest.raises(ValueError, match=f"num must be at least 1.*got {num}"):
            validation_photos(size=32, num=num, data=folder, progress=False)
    with pytest.raises(ValueError, match="size must be a positive"):
        validation_photos(size=0, num=2, data=folder, progress=False)


# ----------------------------------------------------------------------------- images and options
def huge_png(path: Path, side: int = 20000) -> Path:
    """A PNG announcing side x side pixels (a few bytes on disk): Pillow refuses it as a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0"))
                     + chunk(b"IEND", b""))
    return path


def test_a_huge_image_is_refused_with_a_message(tmp_path):
    from utils.results.crops import multi_crop

    big = huge_png(tmp_path / "big.png")
    with pytest.raises(ValueError, match="too large to read"):
        multi_crop(big, crop_size=32)
    code, printed, err = cli("activations", "--image", big, "--module", "inception3a", "--out", tmp_path / "a.png")
    assert code == 2 and printed == "" and "too large to read" in err and err.count("\n") == 1


def test_a_seed_too_large_is_refused_at_parse_time(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--seed", str(2**64), "--out", str(tmp_path / "run")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--seed" in err and "must be from 0 to" in err and not (tmp_path / "run").exists()


def test_benchmark_outputs_are_checked_before_measuring(tmp_path, monkeypatch):
    import benchmarks.__main__ as bench

    def measured(*args, **kwargs):
        raise AssertionError("measured before checking where the report goes")

    monkeypatch.setattr(bench.inference, "run", measured)
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    if os.geteuid() == 0:  # root writes through file modes; sysfs refuses new files even to root
        read_only = Path("/sys")
    try:
        for argv, needle in ((["--out", str(tmp_path)], "is a folder"),
                             (["--json", str(read_only / "r.json")], "cannot be written")):
            err = io.StringIO()
            with redirect_stderr(err):
                assert bench.main(["--quick", *argv]) == 2
            assert needle in err.getvalue()
    finally:
        (tmp_path / "ro").chmod(0o700)
    manifest = tmp_path / "googlenet_imagenette.json"
    meta = json.loads(shipped.manifest_path(shipped.SHIPPED).read_text())
    manifest.write_text(json.dumps({k: v for k, v in meta.items() if k != "weights"}))
    assert "lacks the field 'weights'" in bench.check_inputs([tmp_path / "r.md"], manifest)
    assert bench.check_inputs([tmp_path / "r.md"]) is None  # the shipped manifest is complete


def test_the_training_photos_refuse_a_crop_fraction_of_zero(tmp_path):
    from test_imagenette import make_imagenette

    from utils.training.photo_training import validation_photos

    folder = make_imagenette(tmp_path / "imagenette", 1, 1)
    assert validation_photos(2, 32, data=folder)[0].shape == (2, 3, 32, 32)
    for size, fraction in ((32, 0), (0, 0.875)):
        with pytest.raises(ValueError, match="crop_fraction in"):
            validation_photos(2, size, crop_fraction=fraction, data=folder)


def test_a_checkpoint_config_with_an_unknown_key_is_named(tmp_path):
    from dataclasses import asdict

    from utils.training.checkpoint import checkpoint_config
    from utils.training.recipe import TrainConfig

    state = {"config": {**asdict(TrainConfig()), "frobnicate": 1}}
    with pytest.raises(ValueError, match="frobnicate: not fields of TrainConfig"):
        checkpoint_config(state)
