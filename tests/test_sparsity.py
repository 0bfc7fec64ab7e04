"""§3 helpers: sparse/dense timing bookkeeping and the Hebbian clustering, on small fixed-seed inputs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from utils.measuring import sparsity


def test_random_sparse_weight_has_requested_nonzeros():
    w = sparsity.random_sparse_weight(100, 0.01, seed=3)
    assert int((w != 0).sum()) == 100  # 1% of 10,000
    assert torch.equal(w, sparsity.random_sparse_weight(100, 0.01, seed=3))
    with pytest.raises(ValueError, match="density must be in"):
        sparsity.random_sparse_weight(10, 0.0)


def test_csr_product_equals_dense_product():
    w = sparsity.random_sparse_weight(64, 0.1)
    x = torch.randn(64, 5, generator=torch.Generator().manual_seed(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch labels sparse CSR as beta
        assert torch.allclose(w.to_sparse_csr() @ x, w @ x, atol=1e-5)


def test_block_product_is_block_diagonal_product():
    assert sparsity.block_diagonal_matches_dense(n=64, groups=4) < 1e-4


def test_timing_rows_have_ideal_speedup():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = sparsity.time_sparse_vs_dense(n=64, batch=8, densities=(1.0, 0.1), min_run_time=0.01,
                                             progress=False)
    assert [r["ideal_speedup"] for r in rows] == [1.0, 10.0]
    assert rows[1]["nnz"] == round(0.1 * 64 * 64)
    assert all(r["dense_s"] > 0 and r["sparse_s"] > 0 for r in rows)
    with pytest.raises(ValueError, match="must be 1/g"):
        sparsity.time_block_sparse(n=64, batch=8, densities=(0.3,), min_run_time=0.01, progress=False)


def test_break_even_interpolates_in_log_density():
    rows = [{"density": 1.0, "speedup": 0.25}, {"density": 0.1, "speedup": 4.0}]
    # log-speedup goes from log(1/4) to log(4): it crosses 0 halfway, at density sqrt(0.1).
    assert sparsity.break_even_density(rows) == pytest.approx(math.sqrt(0.1))
    assert sparsity.break_even_density([{"density": 1.0, "speedup": 0.5}, {"density": 0.5, "speedup": 0.9}]) is None


def test_branch_labels_follow_table1():
    labels = sparsity.branch_labels("inception3a")
    assert len(labels) == 256
    assert list(np.bincount(labels)) == [64, 128, 32, 32]  # Table 1: #1x1, #3x3, #5x5, pool proj


def test_clustering_recovers_planted_groups():
    # Three groups of channels, each driven by its own hidden signal plus a little noise.
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], [5, 7, 4])
    hidden = rng.standard_normal((500, 3))
    acts = hidden[:, truth] + 0.1 * rng.standard_normal((500, truth.size))
    corr = sparsity.unit_correlation(torch.from_numpy(acts).float())
    assert corr.shape == (16, 16) and np.allclose(np.diag(corr), 1.0)
    labels, order = sparsity.cluster_units(corr, 3)
    assert sorted(order) == list(range(16))
    agreement = sparsity.cluster_agreement(labels, truth)
    assert agreement["ari"] == pytest.approx(1.0)
    assert agreement["ari_shuffled"] < 0.3


def test_dead_units_do_not_break_correlation():
    acts = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    acts[:, 1] = 0.0  # a channel that never fires
    corr = sparsity.unit_correlation(acts)
    assert corr[1, 0] == 0.0 and corr[1, 1] == 1.0
    with pytest.raises(ValueError, match="must be"):
        sparsity.unit_correlation(torch.zeros(3))
    with pytest.raises(ValueError, match="n_clusters"):
        sparsity.cluster_units(corr, 9)


def test_block_mean_abs_corr_by_hand():
    corr = np.array([[1.0, 0.8, 0.1], [0.8, 1.0, -0.3], [0.1, -0.3, 1.0]])
    out = sparsity.block_mean_abs_corr(corr, np.array([0, 0, 1]))
    # within group 0: the off-diagonal pair 0.8; group 1 has one unit (no pairs); between: (0.1 + 0.3) / 2.
    assert out[0, 0] == pytest.approx(0.8)
    assert out[1, 1] == 0.0
    assert out[0, 1] == pytest.approx(0.2) and out[1, 0] == pytest.approx(0.2)


def test_shuffled_ari_is_the_chance_spread():
    # Two unrelated partitions of 400 units: their index sits inside the shuffles' spread, around 0;
    # a partition equal to the reference stands far above it.
    rng = np.random.default_rng(1)
    reference = np.repeat([0, 1, 2, 3], [100, 200, 50, 50])
    unrelated = rng.integers(0, 4, reference.size)
    null = sparsity.shuffled_ari(unrelated, reference, permutations=300, seed=2)
    assert null.shape == (300,)
    assert abs(null.mean()) < 0.005 and 0 < null.std() < 0.02
    ari = sparsity.cluster_agreement(unrelated, reference)["ari"]
    assert np.quantile(null, 0.01) < ari < np.quantile(null, 0.99)
    assert sparsity.cluster_agreement(reference, reference)["ari"] > 50 * np.quantile(null, 0.99)
    assert np.array_equal(null, sparsity.shuffled_ari(unrelated, reference, permutations=300, seed=2))
    with pytest.raises(ValueError, match="permutations must be at least 1"):
        sparsity.shuffled_ari(unrelated, reference, permutations=0)
    with pytest.raises(ValueError, match="same shape"):
        sparsity.shuffled_ari(unrelated[:10], reference)
