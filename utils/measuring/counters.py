"""Multiply-adds measured by tracing: fvcore and ``torch.utils.flop_counter`` beside the cost model.

:func:`count` measures any ``nn.Module``; :func:`compare_counters` sets the analytic counts of
:mod:`utils.measuring.profiling` beside both tracers, op by op, and says what each one skips;
:func:`variant_differences` switches each field of :class:`utils.network.arch.Variant` from the paper's
value to torchvision's and checks the analytic change against a measured one.
"""

from __future__ import annotations

import contextlib
import logging
import warnings

import pandas as pd
import torch

from ..network import arch
from ..network.arch import Variant, get_variant
from .profiling import _check_input_size, layer_costs, totals


@contextlib.contextmanager
def _quiet_logger(name: str, level: int = logging.ERROR):
    """Raise one logger's level for the duration of a block, then restore it."""
    logger = logging.getLogger(name)
    old = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(old)


def _seeded_googlenet(variant, **kwargs):
    """A network with seed-0 weights, leaving the caller's global random state untouched."""
    from ..network.model import googlenet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return googlenet(variant, **kwargs)


def _input(input_size: int | tuple[int, int]):
    if isinstance(input_size, int) and not isinstance(input_size, bool):
        h = w = input_size
    elif isinstance(input_size, tuple | list) and len(input_size) == 2 and all(isinstance(s, int) for s in input_size):
        h, w = input_size
    else:
        raise ValueError(f"input_size must be an int or a (H, W) pair of ints, got {input_size!r}")
    if h < 1 or w < 1:
        raise ValueError(f"input_size must be positive, got {input_size!r}")
    return torch.zeros(1, 3, h, w)


def _flop_counter_flops(model, x) -> dict[str, int]:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return {str(op).split(".")[-1]: int(n) for op, n in fc.get_flop_counts()["Global"].items()}


def _fvcore_flops(model, x) -> tuple[dict[str, int], dict[str, int]]:
    """fvcore's counts per op type (it counts one multiply-add as one "flop") and the ops it skipped."""
    with warnings.catch_warnings():  # fvcore's import uses torch.jit.script, deprecated in new torch
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    # the JIT tracer's notes about the model are not about counting
    with warnings.catch_warnings(), _quiet_logger("fvcore"):
        warnings.simplefilter("ignore")
        by_op = {k: int(n) for k, n in analysis.by_operator().items()}
    return by_op, dict(analysis.unsupported_ops())


def count(model, input_size: int | tuple[int, int] = arch.INPUT_SIZE) -> dict[str, int]:
    """Trainable parameters and multiply-adds of any ``nn.Module`` on one 3-channel image.

    MACs come from ``torch.utils.flop_counter.FlopCounterMode`` (its FLOPs halved): convolutions
    and matrix multiplies only, the same definition as :func:`layer_costs`.

    Args:
        model: a module taking ``(1, 3, H, W)``; it is put in eval mode for the count.
        input_size: ``224`` or ``(H, W)``.
    """
    from torch import nn

    if not isinstance(model, nn.Module):
        raise ValueError(f"count() needs a torch.nn.Module, got {type(model).__name__}")
    x = _input(input_size)
    was_training = model.training
    model.eval()
    try:
        flops = sum(_flop_counter_flops(model, x).values())
    finally:
        model.train(was_training)
    return {"num_params": sum(p.numel() for p in model.parameters() if p.requires_grad), "macs": flops // 2}


# What each counter does with each op, for the side-by-side table.
_OP_GROUPS = {
    "convolution": ("conv", "convolution"),
    "linear": ("linear", "addmm", "mm", "matmul"),
    "batch_norm": ("batch_norm",),
    "adaptive_avg_pool2d": ("adaptive_avg_pool2d",),
}


def compare_counters(variant: str | Variant = "paper", input_size: int = arch.INPUT_SIZE) -> pd.DataFrame:
    """The analytic counter, fvcore and FlopCounterMode side by side, per op type (inference network).

    Columns: ``op``, ``analytic_macs``, ``fvcore_flops_as_macs`` (fvcore calls one multiply-add one
    flop), ``flop_counter_flops`` (FlopCounterMode: 2 per multiply-add), ``flop_counter_macs``
    (halved) and ``note``. A final ``conv+linear`` row holds the sums the three must agree on.
    """
    v = get_variant(variant)
    _check_input_size(input_size, v)
    model = _seeded_googlenet(v.name, aux_logits=False).eval()
    x = _input(input_size)
    fv, skipped = _fvcore_flops(model, x)
    fc = _flop_counter_flops(model, x)
    costs = layer_costs(v, input_size)
    analytic = {"convolution": sum(c.macs for c in costs if c.kind == "conv"),
                "linear": sum(c.macs for c in costs if c.kind == "linear")}

    def pick(counts: dict[str, int], names: tuple[str, ...]) -> int:
        return sum(n for op, n in counts.items() if op in names)

    notes = {
        "convolution": "k*k*c_in*c_out*H*W; bias adds not counted by any of the three",
        "linear": "c_in*c_out; fvcore sees it as addmm",
        "batch_norm": "fvcore counts batch norm (elementwise, torchvision variant only); not a MAC here",
        "adaptive_avg_pool2d": "fvcore counts one op per input element of the global average pool",
    }
    rows = []
    for op, names in _OP_GROUPS.items():
        fvn, fcn = pick(fv, names), pick(fc, names)
        if op in analytic or fvn or fcn:
            rows.append({"op": op, "analytic_macs": analytic.get(op, 0), "fvcore_flops_as_macs": fvn,
                         "flop_counter_flops": fcn, "flop_counter_macs": fcn // 2, "note": notes[op]})
    counted = {n for names in _OP_GROUPS.values() for n in names}
    for op, n in sorted(fv.items()):
        if op not in counted:
            rows.append({"op": op, "analytic_macs": 0, "fvcore_flops_as_macs": n, "flop_counter_flops": 0,
                         "flop_counter_macs": 0, "note": "counted by fvcore only"})
    for op, times in sorted(skipped.items()):
        op = op.removeprefix("aten::")
        if op == "max_pool2d":
            why = "max pools compare, they do not multiply"
        elif v.lrn and op in ("pow", "avg_pool3d", "pad", "div", "mul", "add"):
            why = "part of LocalResponseNorm (Figure 3), which PyTorch computes elementwise"
        elif v.transform_input and op in ("add", "sub", "mul", "div"):
            why = "transform_input's rescaling of the image"
        else:
            why = "elementwise"
        rows.append({"op": op, "analytic_macs": 0, "fvcore_flops_as_macs": 0, "flop_counter_flops": 0,
                     "flop_counter_macs": 0, "note": f"{why}; not counted by any (fvcore: unsupported, "
                                                     f"calls: {times})"})
    rows.append({"op": "relu", "analytic_macs": 0, "fvcore_flops_as_macs": 0, "flop_counter_flops": 0,
                 "flop_counter_macs": 0, "note": "ignored silently by all three"})
    conv_lin = ("convolution", "linear")
    rows.append({
        "op": "conv+linear",
        "analytic_macs": sum(analytic.values()),
        "fvcore_flops_as_macs": sum(pick(fv, _OP_GROUPS[o]) for o in conv_lin),
        "flop_counter_flops": sum(pick(fc, _OP_GROUPS[o]) for o in conv_lin),
        "flop_counter_macs": sum(pick(fc, _OP_GROUPS[o]) for o in conv_lin) // 2,
        "note": "the three must agree here (1 MAC = 2 FLOPs)",
    })
    return pd.DataFrame(rows)



def variant_differences(input_size: int = arch.INPUT_SIZE, measure: bool = True) -> pd.DataFrame:
    """Each field of :class:`utils.network.arch.Variant` switched from the paper's value to torchvision's,
    one at a time, with its effect on parameters and multiply-adds (inference network).

    Columns: ``field``, ``paper``, ``torchvision``, ``delta_num_params``, ``delta_macs`` (analytic,
    relative to the paper variant) and, with ``measure=True``, ``measured_delta_num_params`` and
    ``measured_delta_macs`` from building the network and counting it with :func:`count`.
    """
    from dataclasses import fields, replace

    from ..network.arch import PAPER, TORCHVISION

    def analytic(v: Variant) -> dict[str, int]:
        return totals(layer_costs(v, input_size))

    def measured(v: Variant) -> dict[str, int]:
        return count(_seeded_googlenet(v, aux_logits=False), input_size)

    base = analytic(PAPER)
    base_m = measured(PAPER) if measure else None
    rows = []
    for f in fields(Variant):
        if f.name == "name":
            continue
        v = replace(PAPER, name=f"paper+{f.name}", **{f.name: getattr(TORCHVISION, f.name)})
        a = analytic(v)
        row = {"field": f.name, "paper": getattr(PAPER, f.name), "torchvision": getattr(TORCHVISION, f.name),
               "delta_num_params": a["num_params"] - base["num_params"], "delta_macs": a["macs"] - base["macs"]}
        if measure:
            m = measured(v)
            row["measured_delta_num_params"] = m["num_params"] - base_m["num_params"]
            row["measured_delta_macs"] = m["macs"] - base_m["macs"]
        rows.append(row)
    return pd.DataFrame(rows)
