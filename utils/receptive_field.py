"""Receptive field and output size of every Table 1 row (§5).

A layer with kernel k and stride s widens the receptive field by ``(k - 1)`` times the current
*jump* (the distance in input pixels between neighbouring output positions) and multiplies the
jump by s:

    rf_out = rf_in + (k - 1) * jump_in        jump_out = jump_in * s

An Inception module's output sees as far as its widest branch: the 5x5 convolution (the 3x3 in
torchvision's variant), or the 3x3 max pool followed by a 1x1 projection, whichever is larger.
The second conv row is a 1x1 reduction then a 3x3 convolution, so it adds a 3x3 kernel.
"""

from __future__ import annotations

import pandas as pd

from . import arch
from .model import get_variant, spatial_sizes


def receptive_fields(variant: str = "paper", input_size: int = arch.INPUT_SIZE) -> pd.DataFrame:
    """Per Table 1 row: effective kernel, stride, output size, jump and receptive field (pixels).

    The receptive field is the theoretical one (every input pixel that can reach one output
    position), ignoring how much of it lies in padding.
    """
    v = get_variant(variant)
    sizes = spatial_sizes(input_size, v)
    rf, jump, rows = 1, 1, []
    for r in arch.TABLE1:
        if r.key not in sizes and r.kind in ("conv", "maxpool", "inception"):
            raise ValueError(f"input_size {input_size} is too small for {r.layer!r}; use at least 32")
        if r.kind in ("conv", "maxpool", "avgpool"):
            kernel, stride = r.kernel_stride
            if r.key == "maxpool4":
                kernel = v.maxpool4_kernel
            if r.kind == "avgpool":  # global average pool: its kernel is the whole final map
                kernel = sizes.get("inception5b", sizes.get("maxpool4"))
        elif r.kind == "inception":
            kernel, stride = max(v.branch3_kernel, 3), 1  # 5x5 branch, or the 3x3 pool branch
        else:
            kernel, stride = 1, 1
        rf += (kernel - 1) * jump
        jump *= stride
        side = sizes.get(r.key, 1) if r.kind not in ("avgpool", "dropout", "linear", "softmax") else 1
        channels = (arch.inception_out_channels(r) if r.kind == "inception"
                    else r.ch3x3 if r.key == "conv2" else r.out_channels)
        rows.append({"layer": r.layer, "key": r.key, "kernel": kernel, "stride": stride,
                     "output_size": f"{side}×{side}×{channels}", "jump": jump, "receptive_field": rf})
    return pd.DataFrame(rows)
