"""Results on photos (utils.results.photo_results): snapshots, validation photos, Table 3's summary and the
colour measures, on small inputs whose answers are known by hand."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from utils.network.model import googlenet
from utils.results import photo_results as pr
from utils.results.evaluate import table3_from_probabilities
from utils.training import imagenette
from utils.training.pretrained import load_snapshot
from utils.training.runs import snapshots


@pytest.fixture(scope="module")
def small_net():
    torch.manual_seed(0)
    return googlenet("paper", num_classes=10, aux_logits=True, transform_input=False).eval()


def _save_snapshot(path, net, epoch, acc):
    averaged = {"module." + k: v.clone() + 1.0 for k, v in net.state_dict().items()}  # differs from "model"
    averaged["n_averaged"] = torch.tensor(5)
    torch.save({"model": net.state_dict(), "averaged": averaged, "variant": "paper",
                "classes": list(imagenette.WNIDS), "image_size": 112, "mean": [0.4, 0.4, 0.4],
                "std": [0.2, 0.2, 0.2], "config": {},
                "history": [{"epoch": float(epoch), "val_acc": acc - 0.01, "val_acc_polyak": acc}]}, path)


def test_snapshots_are_found_by_epoch_and_load_with_either_weights(tmp_path, small_net):
    folder = tmp_path / "r_snapshots"
    folder.mkdir()
    for epoch in (1, 3):
        _save_snapshot(folder / f"snap_{epoch:02d}.pt", small_net, epoch, 0.5 + epoch / 10)
    (folder / "notes.pt").write_text("not a snapshot")
    found = snapshots(tmp_path / "r")
    assert sorted(found) == [1, 3]
    model, meta = load_snapshot(found[3])
    w = small_net.conv1.conv.weight
    assert torch.equal(model.conv1.conv.weight, w + 1.0)  # the averaged weights, prefix removed
    assert meta["epoch"] == 3 and meta["val_top1"] == pytest.approx(0.8)
    assert meta["names"][0] == "tench" and meta["image_size"] == 112 and "epoch 3" in meta["source"]
    raw, raw_meta = load_snapshot(found[3], weights="model")
    assert torch.equal(raw.conv1.conv.weight, w) and raw_meta["val_top1"] == pytest.approx(0.79)
    assert snapshots(tmp_path / "nowhere") == {}
    with pytest.raises(FileNotFoundError, match="train"):
        load_snapshot(folder / "snap_09.pt")


def test_ensemble_epochs_take_the_last_and_every_second_before_it():
    assert pr.ensemble_epochs(range(1, 16)) == [11, 13, 15]
    assert pr.ensemble_epochs([1, 2, 3]) == [1, 2, 3]  # gaps do not fit: the last three
    with pytest.raises(ValueError, match="needs 3 snapshots"):
        pr.ensemble_epochs([1, 2])


def _fake_imagenette(root, per_class=2):
    for split in ("train", "val"):
        for k, wnid in enumerate(imagenette.WNIDS):
            (root / split / wnid).mkdir(parents=True)
            for j in range(per_class):
                # each photo's red value encodes its class, so labels can be checked against pixels
                arr = np.zeros((30, 40, 3), dtype=np.uint8)
                arr[..., 0] = 20 * k
                arr[..., 1] = 100 + j
                Image.fromarray(arr).save(root / split / wnid / f"{j}.png")
    return root


def test_validation_photos_all_or_a_seeded_subset(tmp_path):
    root = _fake_imagenette(tmp_path / "inet")
    images, labels = pr.validation_photos(24, data=root, progress=False)
    assert images.shape == (20, 3, 24, 24) and images.dtype == torch.uint8
    assert torch.equal(images[:, 0, 0, 0].long(), 20 * labels)  # pixels agree with the labels
    a, la = pr.validation_photos(24, num=5, seed=1, data=root, progress=False)
    b, lb = pr.validation_photos(24, num=5, seed=1, data=root, progress=False)
    c, _ = pr.validation_photos(24, num=5, seed=2, data=root, progress=False)
    assert len(a) == 5 and torch.equal(a, b) and torch.equal(la, lb) and not torch.equal(a, c)


def test_missing_photos_say_how_to_get_them_and_download_nothing(monkeypatch):
    monkeypatch.setattr(imagenette, "find", lambda data=None: None)
    monkeypatch.setattr(imagenette, "download", lambda *a, **k: pytest.fail("must not download"))
    with pytest.raises(FileNotFoundError, match="--dataset imagenette"):
        pr.validation_photos(24, num=4)


def test_desaturate_keeps_gray_and_weighs_red_green_blue_by_luma():
    px = np.array([[[[0.3, 0.3, 0.3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]]], dtype=np.float32)
    out = pr.desaturate(px)
    assert out.shape == px.shape
    np.testing.assert_allclose(out[0, 0, :, 0], [0.3, 0.299, 0.587, 0.114], atol=1e-6)
    assert (out[..., 0] == out[..., 2]).all()


def test_conv1_filters_and_their_colour_share(small_net):
    net = googlenet("paper", num_classes=10, aux_logits=False)
    with torch.no_grad():
        w = net.conv1.conv.weight
        w.zero_()
        w[0, 0, 3, 3] = 1.0  # filter 0: red only, one pixel
        w[1, :, 3, 3] = 1.0  # filter 1: gray
        w[2, 0, 3, 3], w[2, 1, 3, 3] = 1.0, -1.0  # filter 2: red minus green, no luminance
    images = pr.conv1_filters(net)
    assert images.shape == (64, 7, 7, 3)
    np.testing.assert_allclose(images[0, 3, 3], [1.0, 0.5, 0.5])
    np.testing.assert_allclose(images[0, 0, 0], [0.5, 0.5, 0.5])
    share = pr.filter_colour(net)
    assert share[1] == pytest.approx(0.0) and share[2] == pytest.approx(1.0)
    # red only: mean 1/3 removed from (1, 0, 0) leaves (2/3, -1/3, -1/3): squared, 6/9 of 1
    assert share[0] == pytest.approx(2 / 3)


def test_colour_dependence_is_zero_for_the_same_photos_and_one_for_black(small_net):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 64, 64)
    same = pr.colour_dependence(small_net, x, x.clone())
    assert list(same.branch) == ["branch1", "branch2", "branch3", "branch4"]
    assert np.allclose(same.dependence, 0.0, atol=1e-5) and (same.colour_share == 0).all()
    # biases are zero at initialisation, so a zero input leaves every unit silent
    black = pr.colour_dependence(small_net, x, torch.zeros_like(x))
    assert np.allclose(black.dependence, 1.0) and (black.colour_share == 1).all()


def _tables(colour_ratio, dependence):
    b = ["branch1", "branch2", "branch3", "branch4"]
    c = pd.DataFrame({"module": "inception3a", "branch": b, "ratio": colour_ratio})
    d = pd.DataFrame({"module": "inception3a", "branch": b, "dependence": dependence,
                      "colour_share": [0.1, 0.2, 0.6, 0.3]})
    return c, d


def test_colour_answer_says_yes_only_when_both_measures_agree_clearly():
    yes = pr.colour_answer(*_tables([1.0, 1.1, 1.6, 1.2], [0.1, 0.2, 0.5, 0.3]))
    assert "yes: branch3 (5x5) is the colour branch" in yes and "1.60 times" in yes and "50%" in yes
    split = pr.colour_answer(*_tables([1.0, 1.1, 1.6, 1.2], [0.1, 0.6, 0.5, 0.3]))
    assert "different branches" in split and "yes" not in split
    close = pr.colour_answer(*_tables([1.0, 1.1, 1.6, 1.55], [0.1, 0.2, 0.5, 0.3]))
    assert "without being confined" in close


def numbers(text: str) -> Counter:
    """Every number a finding states, as written (1.60, 50, the 3 of inception3a), with how often."""
    return Counter(re.findall(r"\d+(?:\.\d+)?", text))


def test_numbers_catches_a_changed_or_missing_number():
    assert numbers("1.60 times, 50% of them") == numbers("1.60배, 그중 50%")
    assert numbers("1.60 times, 50% of them") != numbers("1.6배, 그중 50%")
    assert numbers("1.60 times, 50% of them") != numbers("1.60배")


@pytest.mark.parametrize("colour, dependence, verdict", [
    ([1.0, 1.1, 1.6, 1.2], [0.1, 0.2, 0.5, 0.3], "그렇다"),
    ([1.0, 1.1, 1.6, 1.2], [0.1, 0.6, 0.5, 0.3], "서로 다릅니다"),
    ([1.0, 1.1, 1.6, 1.55], [0.1, 0.2, 0.5, 0.3], "기울 뿐"),
])
def test_colour_answer_in_korean_says_the_same(colour, dependence, verdict):
    tables = _tables(colour, dependence)
    english, korean = pr.colour_answer(*tables), pr.colour_answer_ko(*tables)
    assert verdict in korean
    assert numbers(korean) == numbers(english), (english, korean)


def test_table3_summary_is_written_from_the_numbers():
    labels = torch.tensor([0, 1, 0, 1])
    good = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.6, 0.4]])  # last one wrong: 25% error
    per_model = {(0, s): good[:, None].expand(-1, n, -1) for s, n in (("whole", 1), ("1", 1), ("10", 10))}
    result = {"all": table3_from_probabilities(per_model, labels, ("whole", "1", "10"), -1), "subset": None,
              "n_all": 4, "n_subset": 0}
    text = pr.table3_summary(result)
    assert "On all 4 validation photos one model's top-1 error is 25.0% with the centre crop" in text
    assert "and 25.0% with 10 crops (unchanged)" in text
    assert "without mirrors 10 crops give 25.0%, and the max over crops instead of the mean 25.0%" in text
    assert "10.07% -> 9.15% -> 7.89%" in text


def test_disagreement_counts_different_answers():
    a = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9]])
    b = torch.tensor([[0.9, 0.1], [0.1, 0.9], [0.1, 0.9], [0.1, 0.9]])
    d = pr.disagreement([a, b, a])
    assert d.iloc[0, 1] == 25.0 and d.iloc[0, 2] == 0.0 and d.iloc[1, 1] == 0.0
    with pytest.raises(ValueError):
        pr.disagreement([a])


def test_table3_summary_reads_each_row_it_names():
    labels = torch.tensor([0, 0, 0, 0])
    right, wrong = torch.tensor([0.8, 0.2]), torch.tensor([0.2, 0.8])
    # 10 crops: the first 5 (unmirrored) right on every photo, the 5 mirrors confidently wrong on photo 0 only
    ten = right.repeat(4, 10, 1)
    ten[0, 5:] = torch.tensor([0.0, 1.0])
    per_model = {(0, "whole"): wrong.repeat(4, 1, 1), (0, "1"): right.repeat(4, 1, 1), (0, "10"): ten}
    result = {"all": table3_from_probabilities(per_model, labels, ("whole", "1", "10")), "subset": None,
              "n_all": 4, "n_subset": 0}
    text = pr.table3_summary(result)
    # whole 100% wrong; centre crop 0%; 10-crop mean on photo 0: 0.4 vs 0.6 -> wrong (25%); no mirrors 0%;
    # max over crops: (0.8, 1.0) -> wrong (25%)
    assert "top-1 error is 0.0% with the centre crop (whole photo resized: 100.0%)" in text
    assert "and 25.0% with 10 crops (higher by 25.0 points)" in text
    assert "without mirrors 10 crops give 0.0%, and the max over crops instead of the mean 25.0%" in text
    values = pr.table3_values(result)
    assert (values["err_whole_all"], values["err_1_all"], values["err_10_all"]) == (100.0, 0.0, 25.0)
    assert (values["err_10_nomirror_all"], values["err_10_max_all"], values["n_all"]) == (0.0, 25.0, 4)
    assert "ens_err_1_all" not in values and "err_144_sub" not in values
    ko = pr.table3_summary_ko(result)
    assert "중앙 크롭 하나로 0.0%(사진 전체를 줄이면 100.0%), 크롭 10개로 25.0%입니다(25.0포인트 높음)" in ko
    assert "반전을 빼면 크롭 10개가 0.0%, 크롭 평균 대신 최댓값을 쓰면 25.0%" in ko
    # Table 3 (§7): 10.07 -> 9.15 -> 7.89 for 1, 10, 144 crops of one model; 7 models on one crop 8.09
    assert "10.07% -> 9.15% -> 7.89%" in ko and "모델 7개에 크롭 하나로 8.09%" in ko


class _SizeDetector(torch.nn.Module):
    """Answers class 1 for a 48-pixel input and class 0 otherwise: shows which size reached it."""

    def forward(self, x):
        hit = float(x.shape[-1] == 48 and x.shape[-2] == 48)
        return torch.tensor([[1 - hit, hit]]).expand(len(x), 2)


def test_test_sizes_feeds_each_size_and_scores_it():
    images = torch.randint(0, 256, (5, 3, 64, 64), dtype=torch.uint8)
    labels = torch.tensor([1, 1, 1, 1, 0])
    table = pr.test_sizes(_SizeDetector(), images, labels, (32, 48), 0.875, (0.5,) * 3, (0.5,) * 3, batch_size=2)
    assert table["input size"].tolist() == [32, 48] and table["resized to"].tolist() == [37, 55]
    # at 32 every answer is 0: 1 of 5 right (80% error); at 48 every answer is 1: 4 of 5 right
    assert table["top1_error_pct"].round(6).tolist() == [80.0, 20.0] and table["photos"].tolist() == [5, 5]
