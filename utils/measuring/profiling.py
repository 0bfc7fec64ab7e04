"""Parameters and multiply-adds of GoogLeNet, layer by layer: the analytic cost model (§5, Table 1).

:func:`layer_costs` reads the layer specs of :func:`utils.network.arch.layer_specs` (Table 1 resolved for
a :class:`utils.network.arch.Variant` and an input size); it builds no network and traces nothing. A
convolution with a k x k kernel, ``c_in`` input and ``c_out`` output channels on an ``H x W``
output map costs

    macs = k * k * c_in * c_out * H * W        weights = k * k * c_in * c_out

Only convolutions and linear layers count as multiply-adds (MACs). Bias additions, ReLU, pooling,
local response normalisation and batch norm are not multiply-adds and are left out, which is also
what the paper's ``ops`` column does. One MAC is two FLOPs (a multiply and an add).

Elsewhere: :mod:`utils.measuring.table1` sets these counts beside the paper's printed ones,
:mod:`utils.measuring.counters` measures any network with fvcore and ``torch.utils.flop_counter``, and
:mod:`utils.measuring.profiling_cli` is the ``table1`` and ``profile`` commands. This module imports no torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from ..network import arch
from ..network.arch import Variant, get_variant, min_input_size

# §1 and §5: "a computational budget of 1.5 billion multiply-adds at inference time".
PAPER_MACS_BUDGET = 1_500_000_000


@dataclass(frozen=True)
class LayerCost:
    """The cost of one layer of GoogLeNet.

    Attributes:
        name: module name in :class:`utils.network.model.GoogLeNet`, e.g. ``"inception3a.branch3.1"``.
        row: the Table 1 row key the layer belongs to (``"inception3a"``), or ``"aux1"``/``"aux2"``.
        kind: ``"conv"``, ``"linear"``, ``"maxpool"``, ``"avgpool"``, ``"lrn"``, ``"dropout"``,
            ``"softmax"``.
        out_shape: ``(C, H, W)`` of the layer's output (``(C, 1, 1)`` for linear layers).
        kernel: kernel side for convolutions and pools, 0 otherwise.
        num_params: trainable parameters: weights, plus bias (paper) or batch norm scale and shift
            (torchvision).
        num_weights: the convolution or linear weights only, what Table 1's ``params`` counts.
        macs: multiply-adds of the convolution or linear layer (0 for everything else).
    """

    name: str
    row: str
    kind: str
    out_shape: tuple[int, int, int]
    kernel: int
    num_params: int
    num_weights: int
    macs: int

    @property
    def branch(self) -> str | None:
        """``"branch1"`` .. ``"branch4"`` for layers inside an Inception module, else ``None``."""
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 and parts[1] in arch.BRANCHES else None


def layer_cost(spec: arch.LayerSpec, variant: str | Variant = "paper") -> LayerCost:
    """Parameters and multiply-adds of one layer, from its :class:`utils.network.arch.LayerSpec`.

    Only convolutions and linear layers have weights and MACs; the paper's conv carries a bias per
    output channel, torchvision's batch norm a scale and a shift instead.
    """
    v = get_variant(variant)
    c_in, c_out, k = spec.in_channels, spec.out_channels, spec.kernel
    if spec.kind == "conv":
        weights = k * k * c_in * c_out
        params, macs = weights + (2 * c_out if v.batch_norm else c_out), weights * spec.out_size ** 2
    elif spec.kind == "linear":
        weights = c_in * c_out
        params, macs = weights + c_out, weights
    else:
        weights = params = macs = 0
    if spec.kind in ("conv", "maxpool"):
        kernel = k
    elif spec.kind == "avgpool":  # an adaptive pool's widest window (the whole map for the global one)
        kernel = k or -(-spec.in_size // max(spec.out_size, 1))
    else:
        kernel = 0
    return LayerCost(spec.name, spec.row, spec.kind, (c_out, spec.out_size, spec.out_size), kernel,
                     params, weights, macs)


def _check_input_size(input_size: int, v: Variant) -> None:
    if isinstance(input_size, bool) or not isinstance(input_size, int):
        raise ValueError(f"input_size must be an int (side of a square image), got {input_size!r}")
    smallest = min_input_size(v)
    if input_size < smallest:
        raise ValueError(f"input_size {input_size} is too small; GoogLeNet ({v.name}) needs at least "
                         f"{smallest} (the paper uses {arch.INPUT_SIZE})")


def layer_costs(variant: str | Variant = "paper", input_size: int = arch.INPUT_SIZE,
                aux_logits: bool = False, num_classes: int = 1000) -> list[LayerCost]:
    """Every layer of GoogLeNet with its output shape, parameters and multiply-adds.

    Pure arithmetic on the layer specs of :func:`utils.network.arch.layer_specs` (Table 1, §5, and the
    variant); nothing is built or traced. Local response normalisation (Figure 3, paper variant
    only) appears as layers with no parameters and no MACs.

    Args:
        variant: ``"paper"`` or ``"torchvision"`` (or a :class:`utils.network.arch.Variant`).
        input_size: side of the square input image (224 in §5).
        aux_logits: include the two auxiliary classifiers of §5 (training only).
        num_classes: outputs of the classifiers (1000 for ImageNet).

    Returns:
        The layers in forward order, auxiliary heads right after the module they sit on.
    """
    v = get_variant(variant)
    _check_input_size(input_size, v)
    return [layer_cost(spec, v) for spec in arch.layer_specs(v, input_size, aux_logits, num_classes)
            if spec.kind != "concat"]


def totals(costs: list[LayerCost]) -> dict[str, int]:
    """Sum of ``num_params``, ``num_weights`` and ``macs`` over a list of layers."""
    return {k: sum(getattr(c, k) for c in costs) for k in ("num_params", "num_weights", "macs")}


def branch_breakdown(variant: str | Variant = "paper", input_size: int = arch.INPUT_SIZE) -> pd.DataFrame:
    """Parameters and MACs of each branch of each Inception module (§4, Figure 2(b); Table 1).

    Columns: ``module``, ``branch``, ``label`` (1x1, 3x3, 5x5, pool proj), ``num_params``, ``macs``,
    ``params_share_of_module``, ``macs_share_of_module``, ``params_share_of_network``,
    ``macs_share_of_network`` (fractions; the network is the inference network, no aux heads).
    """
    costs = layer_costs(variant, input_size)
    net = totals(costs)
    rows = []
    for key in arch.INCEPTION_KEYS:
        module = [c for c in costs if c.row == key]
        mt = totals(module)
        for b in arch.BRANCHES:
            bt = totals([c for c in module if c.branch == b])
            rows.append({
                "module": key, "branch": b, "label": arch.BRANCH_LABELS[b],
                "num_params": bt["num_params"], "macs": bt["macs"],
                "params_share_of_module": bt["num_params"] / mt["num_params"],
                "macs_share_of_module": bt["macs"] / mt["macs"],
                "params_share_of_network": bt["num_params"] / net["num_params"],
                "macs_share_of_network": bt["macs"] / net["macs"],
            })
    return pd.DataFrame(rows)


def stage_breakdown(variant: str | Variant = "paper", input_size: int = arch.INPUT_SIZE,
                    aux_logits: bool = True) -> pd.DataFrame:
    """Parameters and MACs per stage: stem (conv1-conv3), 3, 4, 5, classifier, auxiliary heads."""
    def stage(c: LayerCost) -> str:
        if c.row.startswith("aux"):
            return "aux heads (training only)"
        if c.row.startswith("inception"):
            return f"inception{c.row[9]}"
        if c.row in ("conv1", "conv2", "maxpool1", "maxpool2"):
            return "stem"
        if c.row in ("maxpool3", "maxpool4"):
            return "inception" + {"maxpool3": "4", "maxpool4": "5"}[c.row]
        return "classifier"
    df = pd.DataFrame([{**asdict(c), "stage": stage(c)} for c in
                       layer_costs(variant, input_size, aux_logits=aux_logits)])
    order = ["stem", "inception3", "inception4", "inception5", "classifier", "aux heads (training only)"]
    out = df.groupby("stage")[["num_params", "macs"]].sum().reindex([o for o in order if o in set(df.stage)])
    inference = out.drop(index="aux heads (training only)", errors="ignore").sum()
    out["params_share"] = out["num_params"] / inference["num_params"]
    out["macs_share"] = out["macs"] / inference["macs"]
    return out.reset_index()


def layer_table(variant: str | Variant = "paper", input_size: int = arch.INPUT_SIZE,
                aux_logits: bool = False) -> pd.DataFrame:
    """:func:`layer_costs` as a DataFrame, one row per layer."""
    rows = []
    for c in layer_costs(variant, input_size, aux_logits=aux_logits):
        d = asdict(c)
        d["out_shape"] = "×".join(str(x) for x in c.out_shape)
        rows.append(d)
    return pd.DataFrame(rows)
