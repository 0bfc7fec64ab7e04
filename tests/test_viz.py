"""Branch figures: they draw what they are given and reject malformed data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from utils.presentation import viz  # noqa: E402

RNG = np.random.default_rng(0)


def _images(fig):
    return [im for ax in fig.get_axes() for im in ax.get_images()]


def test_feature_grid_draws_the_requested_channels():
    maps = RNG.random((10, 7, 7))
    fig = viz.feature_grid(maps, channels=[3, 1, 4], ncols=2, title="t")
    shown = [ax.get_title() for ax in fig.get_axes() if ax.get_images()]
    assert shown == ["3", "1", "4"]
    np.testing.assert_array_equal(_images(fig)[0].get_array(), maps[3])
    plt.close(fig)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        viz.feature_grid(RNG.random((7, 7)))


def test_module_branches_picks_top_channels_by_mean():
    maps = {b: RNG.random((6, 5, 5)) for b in viz.BRANCH_COLOURS}
    maps["branch2"][4] += 10  # the strongest channel of branch2 comes first
    fig = viz.module_branches(maps, k=2, ncols=2, module="inception3a")
    titles = [ax.get_title() for ax in fig.get_axes() if ax.get_images()]
    assert len(titles) == 8 and titles[2] == "4"
    plt.close(fig)


def test_overlay_and_energy_figure():
    image = RNG.random((32, 32, 3))
    fig = viz.branch_mean_overlay(image, {b: RNG.random((4, 4)) for b in viz.BRANCH_COLOURS})
    assert len(fig.get_axes()) == 5 and len(_images(fig)) == 9
    plt.close(fig)
    shares = pd.DataFrame([{"module": m, "branch": b, "energy_share": 0.25, "macs_share": s}
                           for m in ("inception3a", "inception3b")
                           for b, s in zip(viz.BRANCH_COLOURS, (0.1, 0.6, 0.2, 0.1), strict=True)])
    fig = viz.energy_vs_macs(shares)
    heights = [p.get_height() for p in fig.get_axes()[0].patches]
    assert len(heights) == 16
    assert heights[:8] == pytest.approx([0.25] * 8)  # energy bars first, then the multiply-add bars
    assert heights[8:] == pytest.approx([0.1, 0.1, 0.6, 0.6, 0.2, 0.2, 0.1, 0.1])
    plt.close(fig)


def test_score_heatmap_and_image_grid():
    table = pd.DataFrame(RNG.random((3, 4)), index=["a", "b", "c"], columns=list(viz.BRANCH_COLOURS))
    fig = viz.score_heatmap(table, title="x")
    assert len(fig.get_axes()[0].texts) == 12
    plt.close(fig)
    fig = viz.image_grid(RNG.random((5, 8, 8, 3)), titles=list("abcde"), ncols=3)
    assert len(_images(fig)) == 5
    plt.close(fig)
    with pytest.raises(ValueError, match="no images"):
        viz.image_grid([])
