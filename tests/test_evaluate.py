"""Crop and ensemble evaluation (§7, Table 3) on toy models whose answers are known by hand."""

import math

import pandas as pd
import pytest
import torch
from torch import nn

from utils.network.model import googlenet
from utils.results.evaluate import (
    aggregate,
    beside_paper,
    crop_probabilities,
    crops_throughput,
    ensemble,
    error_pct,
    table3_analogue,
)


class Brightness(nn.Module):
    """Two classes: logit 0 is 0, logit 1 is scale * (mean pixel - 0.5)."""

    def __init__(self, scale=10.0):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(m), self.scale * (m - 0.5)], dim=1)


class LeftHeavy(nn.Module):
    """Class 1 when the left half of the crop is brighter than the right half: mirror-sensitive."""

    def forward(self, x):
        w = x.shape[-1]
        d = x[..., : w // 2].mean(dim=(1, 2, 3)) - x[..., w - w // 2:].mean(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(d), 100 * d], dim=1)


def test_mean_and_max_aggregation_by_hand():
    probs = torch.tensor([[[0.6, 0.4], [0.2, 0.8], [0.7, 0.3]]])
    assert torch.allclose(aggregate(probs, "mean"), torch.tensor([[0.5, 0.5]]))
    # max over crops: (0.7, 0.8) renormalised to (7/15, 8/15)
    assert torch.allclose(aggregate(probs, "max"), torch.tensor([[7 / 15, 8 / 15]]))
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate(probs, "median")


def test_ensemble_and_error_pct_by_hand():
    a = torch.tensor([[0.9, 0.1], [0.4, 0.6]])
    b = torch.tensor([[0.3, 0.7], [0.2, 0.8]])
    assert torch.allclose(ensemble([a, b]), torch.tensor([[0.6, 0.4], [0.3, 0.7]]))
    labels = torch.tensor([1, 1])
    assert error_pct(a, labels) == 50.0
    assert error_pct(ensemble([a, b]), labels) == 50.0
    assert error_pct(b, labels) == 0.0
    assert error_pct(a, labels, k=2) == 0.0
    with pytest.raises(ValueError, match="disagree"):
        ensemble([a, b[:1]])


def test_constant_image_gives_the_same_probability_for_every_crop():
    img = torch.full((2, 3, 40, 60), 0.7)
    probs = crop_probabilities(Brightness(), img, "144", crop_size=32)
    assert probs.shape == (2, 144, 2)
    # sigmoid(10 * (0.7 - 0.5)) = sigmoid(2) for class 1, in every crop
    assert torch.allclose(probs[..., 1], torch.full((2, 144), 1 / (1 + math.exp(-2.0))), atol=1e-5)


def test_batching_does_not_change_the_result():
    torch.manual_seed(0)
    imgs = torch.rand(5, 1, 28, 28)
    a = crop_probabilities(LeftHeavy(), imgs, "10", crop_size=32, batch_size=10)
    b = crop_probabilities(LeftHeavy(), imgs, "10", crop_size=32, batch_size=1000)
    assert torch.allclose(a, b, atol=1e-6)


def test_normalisation_is_applied_before_the_model():
    img = torch.full((1, 3, 32, 32), 0.7)
    # (0.7 - 0.2) / 1.0 = 0.5 -> logit 0 for class 1 -> probability 1/2
    probs = crop_probabilities(Brightness(), img, "1", crop_size=32, mean=(0.2,), std=(1.0,))
    assert probs[0, 0, 1].item() == pytest.approx(0.5, abs=1e-6)


def test_mirrors_cancel_a_left_right_preference():
    # Bright left half: every unmirrored crop says class 1, every mirror says class 0.
    img = torch.zeros(1, 3, 32, 48)
    img[..., :24] = 1.0
    probs = crop_probabilities(LeftHeavy(), img, "10", crop_size=32)
    assert (probs[0, :5, 1] > 0.5).all() and (probs[0, 5:, 1] < 0.5).all()
    assert torch.allclose(aggregate(probs)[0].sum(), torch.tensor(1.0))


def test_table3_analogue_rows_costs_and_paper_column():
    torch.manual_seed(0)
    imgs = torch.rand(6, 1, 28, 28)
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    df = table3_analogue([Brightness(), LeftHeavy()], imgs, labels, crop_size=32, progress=False)
    assert isinstance(df, pd.DataFrame)
    # 2 model counts x (whole, 1, 10 x3 variants, 144 x3 variants)
    assert len(df) == 2 * 8
    assert (df["cost"] == df["models"] * df["crops"]).all()
    assert sorted(set(df["crops"])) == [1, 5, 10, 72, 144]
    assert df.iloc[0]["top1_vs_base_pct"] == 0.0
    out = beside_paper(df)
    row = out[(out.models == 2) & (out.crops == 144) & (out.aggregation == "mean")].iloc[0]
    assert row["paper_models"] == 7 and row["paper_top5_error_pct"] == 6.67
    row = out[(out.models == 1) & (out.crops == 10) & (out.aggregation == "mean")].iloc[0]
    assert row["paper_top5_error_pct"] == 9.15


def test_googlenet_runs_on_small_crops_and_throughput_reports_each_scheme():
    model = googlenet("paper", num_classes=10, aux_logits=False).eval()
    probs = crop_probabilities(model, torch.rand(1, 1, 28, 28), "144", crop_size=32)
    assert probs.shape == (1, 144, 10)
    assert torch.allclose(probs.sum(-1), torch.ones(1, 144), atol=1e-5)
    rows = crops_throughput(model, schemes=("1", "10"), crop_size=32, num_images=1, warmup=0)
    assert [r["crops"] for r in rows] == [1, 10]
    assert all(r["images_per_s"] > 0 for r in rows)


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        crop_probabilities(Brightness(), torch.rand(3, 32, 32), "1", crop_size=32)


def test_square_photos_run_each_distinct_crop_once_with_the_same_result():
    from utils.results.crops import multi_crop_batch
    from utils.results.evaluate import distinct_crops

    keep, inverse = distinct_crops((48, 48), "144", crop_size=32)
    assert len(keep) == 48 and len(inverse) == 144  # 4 scales x 6 positions x 2 mirrors
    torch.manual_seed(0)
    imgs = torch.rand(2, 3, 48, 48)
    crops, _ = multi_crop_batch(imgs, "144", 32)
    assert torch.equal(crops[:, keep][:, inverse], crops)  # the kept crops rebuild all 144
    assert distinct_crops((40, 60), "144", crop_size=32) == (list(range(144)), None)  # 3 different squares
    assert distinct_crops((48, 48), "10", crop_size=32)[1] is None
    a = crop_probabilities(LeftHeavy(), imgs, "144", crop_size=32, dedupe=True)
    b = crop_probabilities(LeftHeavy(), imgs, "144", crop_size=32, dedupe=False)
    assert torch.allclose(a, b, atol=1e-6)
    calls = []

    class Counting(LeftHeavy):
        def forward(self, x):
            calls.append(len(x))
            return super().forward(x)

    crop_probabilities(Counting(), imgs, "144", crop_size=32)
    assert sum(calls) == 2 * 48


def test_uint8_photos_are_converted_like_floats():
    torch.manual_seed(0)
    u8 = torch.randint(0, 256, (3, 3, 40, 40), dtype=torch.uint8)
    a = crop_probabilities(LeftHeavy(), u8, "10", crop_size=32, batch_size=10)
    b = crop_probabilities(LeftHeavy(), u8.float() / 255, "10", crop_size=32)
    assert torch.allclose(a, b, atol=1e-6)


def test_single_picks_which_model_the_one_model_rows_show():
    from utils.results.evaluate import table3_from_probabilities

    labels = torch.tensor([0, 1])
    right = torch.tensor([[[0.9, 0.1]], [[0.2, 0.8]]])  # (N=2, 1 crop, 2 classes): both right
    wrong = right.flip(-1)  # both wrong
    per_model = {(0, "1"): right, (1, "1"): wrong}
    first = table3_from_probabilities(per_model, labels, ("1",), single=0)
    last = table3_from_probabilities(per_model, labels, ("1",), single=-1)
    mean = table3_from_probabilities(per_model, labels, ("1",))
    one = lambda t: t[t.models == 1].top1_error_pct.iloc[0]  # noqa: E731
    assert (one(first), one(last), one(mean)) == (0.0, 100.0, 50.0)
    # the ensemble averages (0.9+0.1)/2 = 0.5 each way: a tie, resolved to class 0
    assert list(first.models) == [1, 2]
    with pytest.raises(ValueError, match="names no model"):
        table3_from_probabilities(per_model, labels, ("1",), single=2)
    with pytest.raises(ValueError, match="no probabilities"):
        table3_from_probabilities(per_model, labels, ("1", "10"))
