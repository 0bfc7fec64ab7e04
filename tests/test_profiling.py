"""Analytic costs against hand arithmetic from Table 1's channel columns, and against two tracers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from utils.measuring import counters, profiling, table1
from utils.measuring.receptive_field import receptive_fields
from utils.network import arch

# torchvision's published figures for its googlenet (IMAGENET1K_V1; torchvision.models docs):
# 6,624,904 parameters and "1.50 GFLOPS", which are multiply-adds (1.498 G to three decimals).
TORCHVISION_GOOGLENET_NUM_PARAMS = 6_624_904
TORCHVISION_GOOGLENET_GMACS = 1.498


def by_row(costs):
    out = {}
    for c in costs:
        out.setdefault(c.row, []).append(c)
    return {k: profiling.totals(v) for k, v in out.items()}


def test_conv1_by_hand():
    conv1 = by_row(profiling.layer_costs("paper"))["conv1"]
    assert conv1["macs"] == 112 * 112 * 64 * 3 * 49
    assert conv1["num_weights"] == 7 * 7 * 3 * 64
    assert conv1["num_params"] == 7 * 7 * 3 * 64 + 64  # plus one bias per filter


def test_inception_rows_by_hand():
    rows = by_row(profiling.layer_costs("paper"))
    assert rows["inception3a"]["macs"] == 28 * 28 * (192 * 64 + 192 * 96 + 96 * 128 * 9 + 192 * 16
                                                     + 16 * 32 * 25 + 192 * 32)
    assert rows["inception5b"]["macs"] == 7 * 7 * (832 * 384 + 832 * 192 + 192 * 384 * 9 + 832 * 48
                                                   + 48 * 128 * 25 + 832 * 128)
    assert rows["inception4e"]["num_weights"] == (528 * 256 + 528 * 160 + 160 * 320 * 9 + 528 * 32
                                                  + 32 * 128 * 25 + 528 * 128)
    # the second conv row: 1x1 64 -> 64, then 3x3 64 -> 192, on a 56x56 map
    assert rows["conv2"]["macs"] == 56 * 56 * (64 * 64 + 9 * 64 * 192)
    assert rows["fc"]["macs"] == 1024 * 1000


def test_torchvision_variant_uses_3x3_and_bn():
    rows = by_row(profiling.layer_costs("torchvision"))
    assert rows["inception3a"]["macs"] == 28 * 28 * (192 * 64 + 192 * 96 + 96 * 128 * 9 + 192 * 16
                                                     + 16 * 32 * 9 + 192 * 32)
    # no conv bias; batch norm adds a scale and a shift per output channel
    assert rows["conv1"]["num_params"] == 7 * 7 * 3 * 64 + 2 * 64


def test_torchvision_totals_match_published_figures():
    t = profiling.totals(profiling.layer_costs("torchvision"))
    assert t["num_params"] == TORCHVISION_GOOGLENET_NUM_PARAMS
    assert round(t["macs"] / 1e9, 3) == TORCHVISION_GOOGLENET_GMACS


def test_aux_heads_by_hand():
    base = profiling.totals(profiling.layer_costs("paper"))
    with_aux = profiling.totals(profiling.layer_costs("paper", aux_logits=True))
    # §5: 1x1 conv 128 on the 4x4 pooled map of 4a (512 ch) and 4d (528 ch), FC 2048->1024, 1024->1000
    aux_macs = sum(16 * c * 128 + 2048 * 1024 + 1024 * 1000 for c in (512, 528))
    aux_params = sum(c * 128 + 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000 for c in (512, 528))
    assert with_aux["macs"] - base["macs"] == aux_macs
    assert with_aux["num_params"] - base["num_params"] == aux_params


def test_analytic_params_match_the_built_model():
    from utils.network.model import googlenet

    for variant in ("paper", "torchvision"):
        for aux in (False, True):
            model = googlenet(variant, aux_logits=aux)
            built = sum(p.numel() for p in model.parameters())
            assert profiling.totals(profiling.layer_costs(variant, aux_logits=aux))["num_params"] == built


def test_other_input_sizes_scale_the_maps():
    small = by_row(profiling.layer_costs("paper", input_size=112))
    assert small["inception3a"]["macs"] * 4 == by_row(profiling.layer_costs("paper"))["inception3a"]["macs"]
    with pytest.raises(ValueError, match="too small"):
        profiling.layer_costs("paper", input_size=16)
    with pytest.raises(ValueError, match="unknown variant"):
        profiling.layer_costs("vgg")


def test_table1_rows_and_notes():
    df = table1.table1()
    assert list(df.layer) == [r.layer for r in arch.TABLE1]
    assert df.set_index("key").loc["inception3a", "output_size"] == "28×28×256"
    fit = df.set_index("key")
    # rows that fit by hand: conv2 114,688 weights = 112 x 1024; 3a 163,328 = 159.5 x 1024; fc 1,024,000
    assert fit.loc["conv2", "params_fit"] and fit.loc["inception3a", "params_fit"] and fit.loc["fc", "params_fit"]
    assert fit.loc["conv2", "note"] == ""
    # 4c: 497.5K weights vs printed 463K; its ops (99.85M) fit 100M
    assert not fit.loc["inception4c", "params_fit"] and fit.loc["inception4c", "ops_fit"]
    assert "463K" in fit.loc["inception4c", "note"]
    # 5a: 928 x (256+160+32+128) + 9x160x320 + 25x32x128 = 1,097,728 = 1072 x 1024
    assert 928 * 576 + 9 * 160 * 320 + 25 * 32 * 128 == 1072 * 1024
    assert "input depth of 928" in fit.loc["inception5a", "note"]
    # conv1's printed cells agree with each other: 2.7K x 112 x 112 = 33.9M -> "34M"
    assert "33.9M" in fit.loc["conv1", "note"]
    assert all(df.note[df.params_fit.isna()] == "")


def test_totals_verdict():
    v = table1.totals_verdict().set_index("quantity")
    # sum of the channel-column weights by hand, row by row (conv1, conv2+3, 3a..5b, fc)
    weights = (9408 + 114688 + 163328 + 388096 + 375552 + 448512 + 509440 + 604672 + 867328 + 1042432
               + 1442816 + 1024000)
    assert v.loc["weights (Table 1 sum)", "computed"] == f"{weights:,}"
    assert v.loc["MACs vs the 1.5G budget (§1, §5)", "verdict"].startswith("above")


def test_branch_breakdown_sums_to_module():
    df = profiling.branch_breakdown()
    assert len(df) == 9 * 4
    rows = by_row(profiling.layer_costs("paper"))
    for key, g in df.groupby("module"):
        assert g.macs.sum() == rows[key]["macs"]
        assert g.macs_share_of_module.sum() == pytest.approx(1.0)
    b = df.set_index(["module", "label"])
    assert b.loc[("inception3a", "3x3"), "macs"] == 28 * 28 * (192 * 96 + 96 * 128 * 9)


def test_counters_agree_on_conv_and_linear():
    for variant in ("paper", "torchvision"):
        df = counters.compare_counters(variant).set_index("op")
        total = df.loc["conv+linear"]
        assert total.analytic_macs == total.fvcore_flops_as_macs == total.flop_counter_macs
        assert total.flop_counter_flops == 2 * total.flop_counter_macs
        assert "max_pool2d" in df.index  # what is not counted is shown, not hidden


def test_count_any_module():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 10 * 12, 5))
    got = counters.count(net, (10, 12))
    assert got["num_params"] == 3 * 8 * 9 + 8 + 8 * 120 * 5 + 5
    assert got["macs"] == 10 * 12 * 8 * 3 * 9 + 960 * 5
    with pytest.raises(ValueError, match="nn.Module"):
        counters.count("alexnet")
    with pytest.raises(ValueError, match="input_size"):
        counters.count(net, (10,))


def test_receptive_fields_by_hand():
    rf = receptive_fields().set_index("key").receptive_field
    # rf += (k - 1) * jump: 7; +2*2=11; +2*4=19; +2*4=27; 5x5 at jump 8: 59, 91; pool: 107; ...
    assert rf["conv1"] == 7 and rf["maxpool1"] == 11 and rf["conv2"] == 19 and rf["maxpool2"] == 27
    assert rf["inception3b"] == 27 + 2 * 4 * 8
    assert rf["inception4e"] == 107 + 5 * 4 * 16
    assert rf["inception5b"] == 427 + 2 * 16 + 2 * 4 * 32
    assert rf["avgpool"] == 715 + 6 * 32
    assert receptive_fields("torchvision").set_index("key").receptive_field["inception3a"] == 27 + 2 * 8


def test_variant_differences_analytic_equals_measured():
    df = counters.variant_differences(input_size=64).set_index("field")
    assert (df.delta_num_params == df.measured_delta_num_params).all()
    assert (df.delta_macs == df.measured_delta_macs).all()
    # the 3x3 "5x5" branch (vision#906) removes 16 weights per (reduce, out) channel pair in every module
    saved = sum(16 * r.ch5x5red * r.ch5x5 for r in arch.TABLE1 if r.kind == "inception")
    assert df.loc["branch3_kernel", "delta_num_params"] == -saved
    # batch norm: conv biases (one per channel) become scale and shift (two per channel)
    assert df.loc["batch_norm", "delta_num_params"] > 0 and df.loc["lrn", "delta_macs"] == 0


def test_diagrams_draw_and_reject_bad_rows():
    import matplotlib

    matplotlib.use("Agg")
    from utils.presentation import diagrams

    assert diagrams.inception_module("inception4e", branch3_kernel=3).axes
    assert diagrams.branch_shares(profiling.branch_breakdown()).axes
    with pytest.raises(ValueError, match="not an Inception row"):
        diagrams.inception_module("conv1")


# ----------------------------------------------------------------------------- the readable branch report
def test_profile_by_branch_reads_as_percentages_with_totals(capsys):
    from utils.__main__ import main

    assert main(["profile", "--by", "branch", "--input-size", "224"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# ") and "paper variant" in out and "224x224" in out
    assert "include the 1x1 reduction" in out
    # inception (3a) by hand (Table 1's channels at 28x28): 1x1 784*192*64; 3x3 784*(192*96 + 9*96*128);
    # 5x5 784*(192*16 + 25*16*32); pool proj 784*192*32; total 128,049,152 (Table 1's "128M")
    macs = [784 * 192 * 64, 784 * (192 * 96 + 9 * 96 * 128), 784 * (192 * 16 + 25 * 16 * 32), 784 * 192 * 32]
    rows = [line for line in out.splitlines() if line.startswith("| inception3a")]
    assert len(rows) == 5 and "**total**" in rows[-1]
    for row, m in zip(rows, macs, strict=False):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[3] == f"{m / 1e6:.1f}" and cells[4] == f"{100 * m / sum(macs):.1f}%"
    assert [c.strip() for c in rows[-1].strip("|").split("|")][3:5] == ["128.0", "100.0%"]
    assert "0.0754569" not in out  # no raw fractions
    assert main(["profile", "--by", "branch", "--variant", "torchvision"]) == 0
    out = capsys.readouterr().out
    assert "torchvision variant" in out and "branch3 (3x3)" in out and "branch3 (5x5)" not in out
