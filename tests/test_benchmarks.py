"""The benchmark harness: timing helpers, per-branch sums and the report's headline keys.

Timings themselves are not asserted (the machine is shared); the arithmetic around them is.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from benchmarks import __main__ as cli
from benchmarks import inference, report
from utils.fast import optimize_for_inference
from utils.model import googlenet


def test_time_call_takes_the_median():
    durations = iter([0.0, 5.0, 1.0, 2.0])  # warm-up, then three timed calls
    clock = {"t": 0.0}

    def fake():
        clock["t"] += next(durations)

    real = inference.time.perf_counter
    inference.time.perf_counter = lambda: clock["t"]
    try:
        assert inference.time_call(fake, repeats=3, warmup=1) == 2.0
    finally:
        inference.time.perf_counter = real
    with pytest.raises(ValueError, match="repeats"):
        inference.time_call(fake, repeats=0)


def test_matmul_peak_is_positive():
    assert inference.matmul_peak_gflops(size=128, repeats=1) > 0


def test_branch_latency_sums_layers_by_hand():
    layers = pd.DataFrame([
        # 1x1 reduce and 3x3 of branch2: 4e6 MACs in 2 ms -> 8e6 FLOPs / 2e-3 s = 4 GFLOP/s
        {"row": "inception3a", "branch": "branch2", "ms": 1.0, "macs": 1_000_000, "bytes_moved": 1000},
        {"row": "inception3a", "branch": "branch2", "ms": 1.0, "macs": 3_000_000, "bytes_moved": 1000},
        # a pool with no MACs and a 1x1 projection: 1e6 MACs in 2 ms -> 1 GFLOP/s
        {"row": "inception3a", "branch": "branch4", "ms": 1.5, "macs": 0, "bytes_moved": 4000},
        {"row": "inception3a", "branch": "branch4", "ms": 0.5, "macs": 1_000_000, "bytes_moved": 1000},
        {"row": "conv1", "branch": None, "ms": 9.0, "macs": 9, "bytes_moved": 1},
    ])
    b = inference.branch_latency(layers).set_index("branch")
    assert list(b.index) == ["branch2", "branch4"]
    assert b.loc["branch2", "gflops_per_s"] == pytest.approx(4.0)
    assert b.loc["branch4", "gflops_per_s"] == pytest.approx(1.0)
    assert b.loc["branch2", "flops_per_byte"] == pytest.approx(8e6 / 2000)
    assert b.loc["branch4", "share_of_module_ms"] == pytest.approx(0.5)
    assert b.loc["branch2", "share_of_module_macs"] == pytest.approx(0.8)


def test_layer_latency_times_every_layer_of_table1():
    torch.manual_seed(0)
    fast = optimize_for_inference(googlenet("torchvision", num_classes=10, aux_logits=False))
    df = inference.layer_latency(fast, batch=1, repeats=1, input_size=64)
    names = set(df["name"])
    # Table 1: 3 stem convolutions + 6 per Inception module x 9; 4 stride-2 max pools + one per
    # module (branch4); the average pool and the linear layer
    assert len(names) == (3 + 9 * 6) + (4 + 9) + 2
    assert {"conv1", "inception3a.branch4.0", "inception5b.branch3.1", "fc"} <= names
    assert (df["ms"] > 0).all()


def _fake_result() -> dict:
    tp = pd.DataFrame([{"model": "torchvision", "batch": 8, "ms_per_batch": 100.0, "images_per_s": 80.0}])
    layers = pd.DataFrame([{"name": "conv1", "row": "conv1", "kind": "conv", "kernel": 7, "branch": None,
                            "ms": 1.0, "macs": 10, "bytes_moved": 4}])
    branches = pd.DataFrame([{"module": "inception3a", "branch": "branch1", "ms": 1.0, "macs": 1, "gflops_per_s": 2.0,
                              "flops_per_byte": 0.5, "share_of_module_ms": 1.0, "share_of_module_macs": 1.0}])
    return {"threads": 2, "quick": True, "matmul_peak_gflops": 100.0, "conv_peak_gflops": 120.0,
            "throughput": tp, "speedups": pd.DataFrame([{"batch": 8, "fast_vs_torchvision": 2.0}]),
            "inference_speedup_vs_torchvision": 2.0, "gemm_peak_fraction": 0.5,
            "macs_per_image": {"torchvision": 1.5e9, "paper": 1.58e9}, "layers": layers,
            "branches": branches, "training": None, "recorder_overhead": None}


def test_report_headline_keys_and_verdicts():
    result = _fake_result()
    data = json.loads(report.to_json(result))
    assert data["inference_speedup_vs_torchvision"] == 2.0
    assert data["gemm_peak_fraction"] == 0.5
    assert data["training_speedup_vs_torchvision"] is None
    md = report.to_markdown(result)
    assert "meets target" in md and "below target" in md and "not measured" in md
    result["training"] = {"speedup_vs_torchvision": 1.4}
    assert report.summary(result)["training_speedup_vs_torchvision"] == 1.4


def test_cli_refuses_a_missing_folder(tmp_path, capsys):
    assert cli.main(["--quick", "--out", str(tmp_path / "no/such/REPORT.md")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_roofline_figure_and_bad_measurements():
    import matplotlib

    matplotlib.use("Agg")
    from benchmarks.plots import layer_label, roofline

    layers = pd.DataFrame([
        {"kind": "conv", "kernel": 1, "macs": 10, "ms": 1.0, "flops_per_byte": 2.0, "gflops_per_s": 5.0},
        {"kind": "conv", "kernel": 3, "macs": 90, "ms": 1.0, "flops_per_byte": 50.0, "gflops_per_s": 80.0},
        {"kind": "maxpool", "kernel": 3, "macs": 0, "ms": 2.0, "flops_per_byte": 0.0, "gflops_per_s": 0.0},
    ])
    fig = roofline(layers, peak_gflops=100.0, bandwidth_gbs=10.0)
    assert "50%" in fig.axes[0].get_title()  # the pool's 2 ms of 4 ms
    assert layer_label("conv", 5) == "conv 5x5" and layer_label("fc", 0) == "fc"
    with pytest.raises(ValueError, match="positive"):
        roofline(layers, peak_gflops=0.0, bandwidth_gbs=10.0)


def test_memory_format_comparison_lists_every_setting():
    df = inference.memory_format_comparison(batch=1, repeats=1, input_size=64)
    assert list(df["setting"]) == ["plain (NCHW)", "BN folded, NCHW", "channels-last, BN kept",
                                   "channels-last + BN folded (fast path)"]
    assert df["speedup_vs_plain"].iloc[0] == 1.0 and (df["ms_per_batch"] > 0).all()


def test_training_report_lists_time_to_97_and_ablations():
    from benchmarks import training

    result = {"throughput": {"batch_size": 32, "image_size": 32, "project_images_per_s": 420.0,
                             "plain_images_per_s": 400.0, "speedup_vs_torchvision": 1.05},
              "time_to_97": [{"variant": "paper", "seconds": None, "step": None, "epochs": None,
                              "final_val_acc": 0.95, "final_val_acc_polyak": 0.96}],
              "ablations": [{"setting": "init='xavier'", "epochs": 6, "val_acc": 0.11,
                             "val_acc_polyak": None, "seconds": 80.0}],
              "loop_options": [{"option": "channels_last", "images_per_s": 450.0, "vs_plain_torchvision": 1.125}]}
    text = training.markdown(result)
    assert "| channels_last | 450 | x1.12 |" in text
    assert "x1.05" in text and "| paper | not reached |" in text
    assert "| init='xavier' | 6 | 0.110 | - | 80 |" in text
    assert {name for name, _ in training.ABLATIONS} >= {"init='caffe' (BVLC: Caffe xavier FAN_IN, bias 0.2)", "batch 64"}
