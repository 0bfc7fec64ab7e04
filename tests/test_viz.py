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


# ----------------------------------------------------------------------------- the activations figure
def _texts(fig):
    out = [t.get_text() for t in fig.texts]
    for sub in getattr(fig, "subfigs", []):
        out += _texts(sub)
    return out


def _all_axes(fig):
    return list(fig.axes)  # a figure's axes include those of its subfigures


def test_activation_figure_has_photo_region_colour_bar_and_labelled_channels():
    photo = RNG.random((30, 50, 3))
    square = RNG.random((16, 16, 3))
    maps = np.zeros((6, 4, 4))
    maps[2, 1, 1], maps[5, 0, 0] = 3.0, 1.0
    fig = viz.activation_figure(photo, square, (10, 0, 30, 30), {"branch1 (1x1)": (maps, [2, 5, 0])},
                                "inception3a.branch1: weights X, input 16x16 px", fit="crop",
                                silent=[("branch1 (1x1)", 0)])
    axes = _all_axes(fig)
    titles = [ax.get_title() for ax in axes]
    assert ["ch 2", "ch 5", "ch 0 (silent)"] == [t for t in titles if t.startswith("ch ")]
    # the photo itself (its shape) and the square the network took, with the seen region outlined
    photo_ax = next(ax for ax in axes if ax.get_title().startswith("photo 50x30"))
    np.testing.assert_array_equal(photo_ax.get_images()[0].get_array(), photo)
    (rect,) = photo_ax.patches
    assert (rect.get_x() + 0.5, rect.get_y() + 0.5, rect.get_width(), rect.get_height()) == (10, 0, 30, 30)
    assert any("network input 16x16" in t for t in titles)
    # one colour bar, its scale from 0 to the largest value shown, shared by every map
    bars = [ax for ax in axes if ax.get_ylabel() == "activation (after ReLU)"]
    assert len(bars) == 1 and bars[0].get_ylim() == pytest.approx((0, 3))
    map_images = [ax.get_images()[0] for ax in axes if ax.get_title().startswith("ch ")]
    assert {im.norm.vmax for im in map_images} == {3.0}
    assert any("weights X" in t and "16x16" in t for t in _texts(fig))
    fig.savefig(__import__("io").BytesIO(), format="png")  # it draws


def test_channel_view_grid_matches_the_map_and_says_dead():
    image = RNG.random((32, 32, 3))
    maps = RNG.random((3, 4, 4))
    fig = viz.channel_view(image, maps, 1, name="inception3a.branch1")
    grid_ax = fig.axes[0]
    # 3 inner lines each way: one cell of the 4x4 map is 8 pixels of the input
    assert sorted(round(line.get_ydata()[0] + 0.5) for line in grid_ax.lines if line.get_ydata()[0] ==
                  line.get_ydata()[1]) == [8, 16, 24]
    assert "8 px" in grid_ax.get_title()
    assert "DEAD" not in fig.axes[1].get_title()
    fig = viz.channel_view(image, np.zeros((3, 4, 4)), 0, name="x", dead=True, photos_seen=10)
    assert "DEAD" in fig.axes[1].get_title() and "10 photos" in fig.axes[1].get_title()
    with pytest.raises(ValueError, match="out of range"):
        viz.channel_view(image, maps, 3)
