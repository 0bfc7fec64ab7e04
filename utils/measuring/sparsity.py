"""§3 measured: why sparse weights do not pay off on real hardware, and how clustering helps.

§3 argues two things this module lets a reader check:

1. Unstructured sparse kernels are inefficient: "even if the number of arithmetic operations is reduced
   by 100x, the overhead of lookups and cache misses is so dominant that switching to sparse matrices
   would not pay off". :func:`time_sparse_vs_dense` times a dense matrix product against the same
   product with a CSR weight matrix at a range of densities; :func:`time_block_sparse` arranges the same
   number of nonzeros as dense diagonal blocks ("cluster sparse matrices into relatively dense
   sub-matrices"), which is what a grouped convolution computes.
2. The Hebbian construction of Arora et al.: analyse the correlation statistics of a layer's
   activations and cluster units with highly correlated outputs. :func:`unit_correlation`,
   :func:`cluster_units` and :func:`branch_labels` compute that for an Inception module and compare the
   clusters with the module's four branches.

Timings use the project's harness (:func:`utils.measuring.timing.time_call`) with one thread, so dense and
sparse kernels compete on equal terms; they depend on the machine and its load.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from tqdm.auto import tqdm

from ..network import arch
from .timing import time_call

DEFAULT_DENSITIES = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.001)


def _check_density(density: float) -> None:
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], got {density!r}; 0.01 means 1% of weights are nonzero")


def random_sparse_weight(n: int, density: float, seed: int = 0) -> torch.Tensor:
    """An ``n x n`` dense tensor whose nonzeros (``round(density * n * n)``, at least 1) sit at random places."""
    _check_density(density)
    g = torch.Generator().manual_seed(seed)
    nnz = max(1, round(density * n * n))
    w = torch.zeros(n * n)
    idx = torch.randperm(n * n, generator=g)[:nnz]
    w[idx] = torch.randn(nnz, generator=g)
    return w.view(n, n)


def _time(fn, min_run_time: float) -> float:
    """Median seconds per call of ``fn()`` on one thread (:func:`utils.measuring.timing.time_call`)."""
    return time_call(fn, repeats=3, warmup=1, min_run_time=min_run_time, threads=1)


def time_sparse_vs_dense(n: int = 1024, batch: int = 256, densities=DEFAULT_DENSITIES,
                         min_run_time: float = 0.2, seed: int = 0, progress: bool = True) -> list[dict]:
    """Time ``W @ X`` with ``W`` dense and with ``W`` as a CSR matrix, at each density.

    Args:
        n: ``W`` is ``n x n`` (a fully connected layer with ``n`` inputs and outputs).
        batch: columns of ``X`` (inputs processed at once).
        densities: fractions of nonzero weights, each in (0, 1].
        min_run_time: seconds spent timing each kernel (more is steadier).

    Returns:
        one dict per density: ``density``, ``nnz``, ``dense_s``, ``sparse_s``, ``speedup``
        (dense / sparse time), ``ideal_speedup`` (1 / density: the cut in arithmetic) and
        ``efficiency`` (speedup / ideal).

    Shape:
        ``W``: (n, n); ``X``: (n, batch).
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, batch, generator=g)
    w = torch.randn(n, n, generator=g)
    rows = []
    for d in tqdm(densities, desc="densities", disable=not progress):
        csr = random_sparse_weight(n, d, seed).to_sparse_csr()
        # The dense kernel does the same work at every density, but it is timed again right before each
        # sparse one: on a shared machine the load changes within seconds, and a ratio of two timings
        # taken far apart measures the load as much as the kernels.
        dense_s = _time(lambda: w @ x, min_run_time)
        sparse_s = _time(lambda csr=csr: csr @ x, min_run_time)
        rows.append({"density": d, "nnz": int(csr.values().numel()), "dense_s": dense_s, "sparse_s": sparse_s,
                     "speedup": dense_s / sparse_s, "ideal_speedup": 1.0 / d,
                     "efficiency": (dense_s / sparse_s) * d})
    return rows


def break_even_density(rows: list[dict]) -> float | None:
    """The density at which sparse and dense take the same time, interpolated in log-density.

    Walks from dense to sparse and returns the first crossing of ``speedup == 1``; ``None`` when the
    sparse kernel never wins (or always wins) over the measured range.
    """
    pts = sorted(((r["density"], r["speedup"]) for r in rows), reverse=True)
    for (d0, s0), (d1, s1) in zip(pts, pts[1:], strict=False):
        if s0 < 1.0 <= s1:
            t = (math.log(1.0) - math.log(s0)) / (math.log(s1) - math.log(s0))
            return math.exp(math.log(d0) + t * (math.log(d1) - math.log(d0)))
    return None


def time_block_sparse(n: int = 1024, batch: int = 256, densities=(0.5, 0.25, 0.125, 0.0625, 0.03125),
                      min_run_time: float = 0.2, seed: int = 0, progress: bool = True) -> list[dict]:
    """The same number of nonzeros as :func:`time_sparse_vs_dense`, arranged as dense diagonal blocks.

    At density ``d = 1/g`` the weight is block-diagonal with ``g`` dense blocks of ``n/g x n/g``: the
    matrix of a grouped layer with ``g`` groups. It is computed with one batched dense product
    (``torch.bmm``), and the unstructured CSR product at the same density is timed beside it.

    Returns:
        one dict per density: ``density``, ``groups``, ``dense_s``, ``block_s``, ``csr_s``,
        ``block_speedup``, ``csr_speedup`` and ``ideal_speedup`` (= groups).
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, batch, generator=g)
    w = torch.randn(n, n, generator=g)
    rows = []
    for d in tqdm(densities, desc="block densities", disable=not progress):
        _check_density(d)
        groups = round(1 / d)
        if groups * round(n / groups) != n or abs(groups * d - 1) > 1e-9:
            raise ValueError(f"density {d} must be 1/g with g dividing n={n}; try 0.5, 0.25, 0.125 ...")
        b = n // groups
        blocks = torch.randn(groups, b, b, generator=g)
        xb = x.view(groups, b, batch)
        dense_s = _time(lambda: w @ x, min_run_time)  # again beside each layout, as in time_sparse_vs_dense
        block_s = _time(lambda blocks=blocks, xb=xb: torch.bmm(blocks, xb), min_run_time)
        csr = random_sparse_weight(n, d, seed).to_sparse_csr()
        csr_s = _time(lambda csr=csr: csr @ x, min_run_time)
        rows.append({"density": d, "groups": groups, "dense_s": dense_s, "block_s": block_s, "csr_s": csr_s,
                     "block_speedup": dense_s / block_s, "csr_speedup": dense_s / csr_s,
                     "ideal_speedup": float(groups)})
    return rows


def block_diagonal_matches_dense(n: int = 64, groups: int = 4, batch: int = 8, seed: int = 0) -> float:
    """Max abs difference between the batched block product and the dense block-diagonal product.

    A sanity check that :func:`time_block_sparse` times the same arithmetic as a block-diagonal matrix.
    """
    g = torch.Generator().manual_seed(seed)
    b = n // groups
    blocks = torch.randn(groups, b, b, generator=g)
    x = torch.randn(n, batch, generator=g)
    full = torch.block_diag(*blocks)
    return float((torch.bmm(blocks, x.view(groups, b, batch)).reshape(n, batch) - full @ x).abs().max())


# --- the Hebbian construction (Arora et al., cited in §3) ---

def unit_correlation(activations: torch.Tensor) -> np.ndarray:
    """Pearson correlation between the channels of a feature map, over images and positions.

    Each spatial position of each image is one observation of every unit (channel). Channels that
    never vary (e.g. dead ReLUs) get correlation 0 with the others and 1 with themselves.

    Shape:
        activations: (N, C, H, W) or (N, C). Returns a (C, C) array.
    """
    if activations.dim() == 4:
        obs = activations.permute(0, 2, 3, 1).reshape(-1, activations.shape[1])
    elif activations.dim() == 2:
        obs = activations
    else:
        raise ValueError(f"activations must be (N, C, H, W) or (N, C), got shape {tuple(activations.shape)}")
    if obs.shape[0] < 2:
        raise ValueError("need at least 2 observations (images x positions) to compute a correlation")
    a = obs.double().numpy()
    a = a - a.mean(axis=0)
    std = a.std(axis=0)
    live = std > 1e-12
    a[:, live] /= std[live]
    corr = (a.T @ a) / a.shape[0]
    corr[~live, :] = 0.0
    corr[:, ~live] = 0.0
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)


def cluster_units(corr: np.ndarray, n_clusters: int, method: str = "average") -> tuple[np.ndarray, np.ndarray]:
    """Hierarchical clustering of units with distance ``1 - corr`` (correlated units end up together).

    Args:
        corr: (C, C) correlation matrix from :func:`unit_correlation`.
        n_clusters: number of flat clusters to cut the tree into (4 to compare with the branches).
        method: scipy linkage method.

    Returns:
        ``(labels, order)``: a cluster label 0..n_clusters-1 per unit, and the dendrogram's leaf order,
        which puts correlated units next to each other when used to reorder ``corr``.
    """
    from scipy.cluster import hierarchy
    from scipy.spatial.distance import squareform

    corr = np.asarray(corr, dtype=float)
    if corr.ndim != 2 or corr.shape[0] != corr.shape[1]:
        raise ValueError(f"corr must be a square matrix, got shape {corr.shape}")
    if not 1 <= n_clusters <= corr.shape[0]:
        raise ValueError(f"n_clusters must be between 1 and {corr.shape[0]}, got {n_clusters}")
    dist = 1.0 - corr
    dist = (dist + dist.T) / 2
    np.fill_diagonal(dist, 0.0)
    z = hierarchy.linkage(squareform(np.clip(dist, 0.0, None), checks=False), method=method)
    labels = hierarchy.fcluster(z, t=n_clusters, criterion="maxclust") - 1
    return labels, hierarchy.leaves_list(z)


def branch_labels(key: str) -> np.ndarray:
    """The branch (0: 1x1, 1: 3x3, 2: 5x5, 3: pool proj) of each output channel of an Inception module.

    Concatenation in §4 stacks the branches in this order, so channel ``i`` of ``inception3a``'s output
    belongs to branch 0 for ``i < 64``, and so on (Table 1's channel columns).
    """
    r = arch.row(key)
    return np.repeat(np.arange(4), r.branch_channels)


def block_mean_abs_corr(corr: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean ``|corr|`` between every pair of groups (diagonal: within a group, self-pairs excluded).

    With branch labels this asks the Hebbian question directly: are units of the same branch more
    correlated with each other than with units of other branches?

    Returns:
        a (G, G) array for the G distinct labels, in sorted label order.
    """
    corr, labels = np.abs(np.asarray(corr, dtype=float)), np.asarray(labels)
    if corr.shape != (labels.size, labels.size):
        raise ValueError(f"corr {corr.shape} must be (C, C) with C = len(labels) = {labels.size}")
    groups = np.unique(labels)
    out = np.zeros((groups.size, groups.size))
    for i, a in enumerate(groups):
        for j, b in enumerate(groups):
            block = corr[np.ix_(labels == a, labels == b)]
            if a == b:
                n = block.shape[0]
                out[i, j] = (block.sum() - np.trace(block)) / max(n * n - n, 1)
            else:
                out[i, j] = block.mean()
    return out


def cluster_agreement(labels: np.ndarray, reference: np.ndarray) -> dict:
    """How well clusters match a reference partition: adjusted Rand index and its chance level.

    ``ari`` is 1 for identical partitions and about 0 for unrelated ones; ``ari_shuffled`` is the
    index against a random permutation of ``reference`` (fixed seed), a baseline for "no relation".
    """
    from sklearn.metrics import adjusted_rand_score

    labels, reference = np.asarray(labels), np.asarray(reference)
    if labels.shape != reference.shape:
        raise ValueError(f"labels {labels.shape} and reference {reference.shape} must have the same shape")
    rng = np.random.default_rng(0)
    return {"ari": float(adjusted_rand_score(reference, labels)),
            "ari_shuffled": float(adjusted_rand_score(rng.permutation(reference), labels))}


def shuffled_ari(labels: np.ndarray, reference: np.ndarray, permutations: int = 200, seed: int = 0) -> np.ndarray:
    """The adjusted Rand index of ``labels`` against ``permutations`` random shuffles of ``reference``.

    The shuffles keep the group sizes of both partitions and break any relation between them, so the
    returned values show how far the index strays from 0 by chance for these sizes: an index above,
    say, their 99th percentile is unlikely to be chance (a permutation test). One shuffle alone
    (``cluster_agreement``'s ``ari_shuffled``) is a single draw from this spread.
    """
    from sklearn.metrics import adjusted_rand_score

    labels, reference = np.asarray(labels), np.asarray(reference)
    if labels.shape != reference.shape:
        raise ValueError(f"labels {labels.shape} and reference {reference.shape} must have the same shape")
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}; 200 gives a usable 99th percentile")
    rng = np.random.default_rng(seed)
    return np.array([adjusted_rand_score(rng.permutation(reference), labels) for _ in range(permutations)])
