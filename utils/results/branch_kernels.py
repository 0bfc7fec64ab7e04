"""Do the 5x5 branches use their 5x5? The outer ring of each trained 5x5 kernel (§4, Figure 2(b)).

Table 1's third branch convolves with 5x5 kernels; torchvision's port uses 3x3 there (vision#906).
If training leaves the outer ring of a 5x5 kernel (the 16 taps around the central 3x3) near zero,
a 3x3 would do the same job; if the ring carries a good share of the weight, the 5x5 is used.
Under uniform random weights the ring holds 16/25 = 64% of the squared weight, the reference line.
A short training moves the weights only a little from their random start, so the weights themselves
stay near 64%; what training added (the trained weights minus the initial ones, which a run's seed
rebuilds exactly) shows where the learning went.
"""

from __future__ import annotations

from torch import nn

from ..network import arch

RING_SHARE_AT_RANDOM = 16 / 25  # taps outside the central 3x3, out of 25


def ring_share(weight) -> float:
    """Share of the squared weight of 5x5 kernels ``(out, in, 5, 5)`` that lies outside the central 3x3."""
    if weight.dim() != 4 or tuple(weight.shape[-2:]) != (5, 5):
        raise ValueError(f"expected 5x5 kernels of shape (out, in, 5, 5), got {tuple(weight.shape)}")
    energy = weight.detach().float().pow(2)
    total = energy.sum()
    inner = energy[..., 1:4, 1:4].sum()
    return float((total - inner) / total)


def ring_shares(model: nn.Module, initial: nn.Module | None = None) -> list[dict]:
    """For each Inception module of a paper-variant network: its 5x5 conv's ring share.

    With ``initial`` (the same network before training) also ``update_ring_share``, the ring share
    of the change ``trained - initial``, and ``relative_change``, its norm over the initial norm.
    Raises ValueError for a network whose third branch is not 5x5 (torchvision's variant).
    """
    rows = []
    for key in arch.INCEPTION_KEYS:
        w = getattr(model, key).branch3[1].conv.weight.detach()
        row = {"module": key, "kernels": w.shape[0] * w.shape[1], "ring_share": ring_share(w)}
        if initial is not None:
            w0 = getattr(initial, key).branch3[1].conv.weight.detach()
            row["update_ring_share"] = ring_share(w - w0)
            row["relative_change"] = float((w - w0).norm() / w0.norm())
        rows.append(row)
    return rows
