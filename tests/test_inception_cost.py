"""Figure 2 (a) vs (b) arithmetic, checked against hand arithmetic from Table 1's channel numbers."""

from __future__ import annotations

import pytest

from utils.measuring import inception_cost
from utils.network import arch


def test_conv_formulas_by_hand():
    # 3x3 conv, 64 -> 192, on 56x56 (Table 1, conv2's second layer): 9*64*192 = 110,592 weights.
    assert inception_cost.conv_num_params(64, 192, 3, bias=False) == 110_592
    assert inception_cost.conv_num_params(64, 192, 3) == 110_592 + 192
    assert inception_cost.conv_macs(64, 192, 3, 56) == 110_592 * 56 * 56
    assert inception_cost.conv_macs(64, 192, 3, (56, 28)) == 110_592 * 56 * 28


def test_reduction_example_by_hand():
    # 5x5, 192 -> 32 on 28x28: 25*192*32*784 = 120,422,400 MACs.
    # 1x1 192 -> 16 then 5x5 16 -> 32: 192*16*784 + 25*16*32*784 = 2,408,448 + 10,035,200.
    ex = inception_cost.reduction_example()
    assert ex["direct_macs"] == 120_422_400
    assert ex["reduced_macs"] == 12_443_648
    assert ex["direct_num_params"] == 153_600
    assert ex["reduced_num_params"] == 3_072 + 12_800
    assert ex["macs_ratio"] == pytest.approx(9.677, abs=1e-3)


def test_reduced_3a_weights_match_hand_sum():
    # 1x1: 192*64; 3x3: 192*96 + 9*96*128; 5x5: 192*16 + 25*16*32; pool proj: 192*32.
    weights = 12_288 + 18_432 + 110_592 + 3_072 + 12_800 + 6_144
    assert weights == 163_328
    c = inception_cost.module_cost("inception3a", "reduced", bias=False)
    assert c["num_params"] == weights
    assert c["macs"] == weights * 28 * 28
    assert c["out_channels"] == 256  # Table 1: 28x28x256
    biases = 64 + 96 + 128 + 16 + 32 + 32
    assert inception_cost.module_cost("inception3a", "reduced")["num_params"] == weights + biases


def test_naive_3a_by_hand():
    # Figure 2(a): 1x1 192->64, 3x3 192->128, 5x5 192->32, pool keeps 192 channels.
    c = inception_cost.module_cost("inception3a", "naive", bias=False)
    assert c["num_params"] == 12_288 + 221_184 + 153_600
    assert c["out_channels"] == 64 + 128 + 32 + 192
    assert c["branch_macs"]["branch4"] == 0


def test_reduced_output_depth_matches_table1_for_every_module():
    for row in inception_cost.compare_designs():
        assert row["reduced_out_channels"] == arch.row(row["module"]).out_channels
        assert row["naive_macs"] > row["reduced_macs"]


def test_stacked_naive_depth_grows_as_hand_computed():
    # D_out = D_in + ch1x1 + ch3x3 + ch5x5, starting from 192 (Table 1's channel columns).
    expected = [416, 832, 1280, 1728, 2176, 2640, 3344, 4048, 4944]
    assert [c["out_channels"] for c in inception_cost.stacked("naive")] == expected
    reduced = inception_cost.stacked("reduced")
    assert [c["out_channels"] for c in reduced] == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    assert reduced[-1]["cumulative_macs"] == sum(c["macs"] for c in reduced)


def test_widening_is_quadratic():
    rows = inception_cost.widening_macs(32, [1, 2, 3])
    assert rows[0]["macs"] == 2 * 9 * 32 * 32 * 28 * 28
    assert [r["macs"] / rows[0]["macs"] for r in rows] == [1, 4, 9]


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="not an Inception module"):
        inception_cost.module_cost("conv1")
    with pytest.raises(ValueError, match="unknown design"):
        inception_cost.module_cost("inception3a", "wide")
    with pytest.raises(ValueError, match="positive integer"):
        inception_cost.conv_macs(0, 3, 3, 8)
