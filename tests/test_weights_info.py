"""The one description of trained weights (utils.network.weights_info.WeightsInfo): the shipped manifest is it,
written to JSON, and every field reads as the mapping the notebooks index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from utils.network.shipped import SHIPPED, describe, manifest_path
from utils.network.weights_info import WHERE, WeightsInfo

MANIFEST = manifest_path(SHIPPED)


def test_the_committed_manifest_is_the_description_written_to_json():
    text = MANIFEST.read_text(encoding="utf-8")
    info = WeightsInfo.from_json(text)
    assert info.to_json() == text  # byte for byte: manifest -> description -> manifest
    assert WeightsInfo.from_json(info.to_json()) == info
    raw = json.loads(text)
    assert info.classes == tuple(raw["classes"]) and info.names == tuple(raw["names"])
    assert info.val_top1 == raw["val_top1"] and info.eval_protocol == raw["eval_protocol"]
    assert info.val_correct == round(info.val_top1 * info.val_images)  # the manifest agrees with itself


def test_where_the_weights_were_found_is_not_written(tmp_path):
    text = MANIFEST.read_text(encoding="utf-8")
    info = describe(json.loads(text), tmp_path / "models" / "net.pt")
    assert (info.kind, info.name, info.path) == ("shipped", "shipped model (models/)", tmp_path / "models" / "net.pt")
    assert "net.pt" in info.source and f"{info.val_top1:.1%}" in info.source
    assert info.to_json() == text and not set(WHERE) & set(info.to_dict())


def test_a_manifest_field_it_does_not_know_is_refused():
    raw = json.loads(MANIFEST.read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match="does not know: top1"):
        WeightsInfo.from_json({**raw, "top1": 0.5})
    with pytest.raises(ValueError, match="does not know: source"):  # where a copy was found is not a field to ship
        WeightsInfo.from_json({**raw, "source": "elsewhere"})


def test_classes_and_names_must_agree():
    with pytest.raises(ValueError, match="3 class ids and 2 names"):
        WeightsInfo(classes=("a", "b", "c"), names=("x", "y"))
    with pytest.raises(ValueError, match="unknown weights kind"):
        WeightsInfo(classes=("a",), kind="somewhere")
    only_ids = WeightsInfo(classes=("a", "b"))
    assert only_ids.names == ("a", "b") and only_ids.num_classes == 2  # words default to the ids


def test_it_reads_as_a_mapping_of_its_fields():
    info = WeightsInfo(classes=("a", "b"), image_size=112, mean=[0.5, 0.5, 0.5], std=[0.25] * 3,
                       path=Path("x.pt"))
    assert info["image_size"] == 112 and info.get("val_top1", 1.0) is None and info.get("raw") is None
    assert info["mean"] == (0.5, 0.5, 0.5) and isinstance(info.std, tuple)
    assert list(info)[:4] == ["file", "sha256", "bytes", "format"] and len(dict(info)) == len(info)
    with pytest.raises(KeyError):
        info["preprocess"]
    x = torch.full((1, 3, 2, 2), 0.75)
    torch.testing.assert_close(info.preprocess(x), torch.ones(1, 3, 2, 2))
