"""Receptive field and output size of every Table 1 row (§5), read from :func:`utils.network.arch.layer_specs`.

A layer with kernel k and stride s widens the receptive field by ``(k - 1)`` times the current
*jump* (the distance in input pixels between neighbouring output positions) and multiplies the
jump by s:

    rf_out = rf_in + (k - 1) * jump_in        jump_out = jump_in * s

An Inception module's output sees as far as its widest branch: the 5x5 convolution (the 3x3 in
torchvision's variant), or the 3x3 max pool followed by a 1x1 projection, whichever is larger.
The second conv row is a 1x1 reduction then a 3x3 convolution, so it adds a 3x3 kernel. This
module imports no torch.
"""

from __future__ import annotations

import pandas as pd

from ..network import arch


def _row_kernel(specs: list[arch.LayerSpec]) -> tuple[int, int]:
    """Effective kernel and stride of one Table 1 row, in units of the row's input pixels.

    Layers in a row run one after another, except an Inception module's branches, which run side
    by side: the module's kernel is that of its widest branch.
    """
    chains: dict[str | None, list[arch.LayerSpec]] = {}
    for spec in specs:
        if spec.kind != "concat":
            chains.setdefault(spec.branch, []).append(spec)
    best = (1, 1)
    for chain in chains.values():
        kernel, stride = 1, 1
        for spec in chain:
            # an adaptive (global) pool's window is its whole input map
            k = spec.kernel if spec.kernel else spec.in_size
            kernel += (k - 1) * stride
            stride *= spec.stride if spec.kernel else 1
        best = max(best, (kernel, stride))
    return best


def receptive_fields(variant: str = "paper", input_size: int = arch.INPUT_SIZE) -> pd.DataFrame:
    """Per Table 1 row: effective kernel, stride, output size, jump and receptive field (pixels).

    The receptive field is the theoretical one (every input pixel that can reach one output
    position), ignoring how much of it lies in padding.
    """
    v = arch.get_variant(variant)
    if isinstance(input_size, int) and not isinstance(input_size, bool) and input_size < arch.min_input_size(v):
        raise ValueError(f"input_size {input_size} is too small for GoogLeNet ({v.name}); "
                         f"use at least {arch.min_input_size(v)}")
    specs = arch.layer_specs(v, input_size)
    rf, jump, rows = 1, 1, []
    for r in arch.TABLE1:
        mine = [s for s in specs if s.row == r.key]
        kernel, stride = _row_kernel(mine)
        rf += (kernel - 1) * jump
        jump *= stride
        out = [s for s in mine if s.on_main_path][-1]
        rows.append({"layer": r.layer, "key": r.key, "kernel": kernel, "stride": stride,
                     "output_size": f"{out.out_size}×{out.out_size}×{out.out_channels}", "jump": jump,
                     "receptive_field": rf})
    return pd.DataFrame(rows)
