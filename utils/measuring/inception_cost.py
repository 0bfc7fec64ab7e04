"""Figure 2 (a) vs (b) as arithmetic: what the 1x1 reductions of §4 save, module by module.

Figure 2(a), the *naive* Inception module, runs a 1x1, a 3x3 and a 5x5 convolution and a 3x3 max pool
side by side on the full input depth and concatenates them. Figure 2(b) puts 1x1 reductions before
the 3x3 and 5x5 convolutions and a 1x1 projection after the pool. §4 explains why (b) is needed: the
pooling branch of (a) passes every input channel through, so depth grows at every stage, and the
expensive 3x3/5x5 convolutions then see ever deeper inputs ("a computational blow up within a few
stages").

Everything here is plain integer arithmetic over Table 1 (:mod:`utils.network.arch`); no torch. Conventions:
``macs`` counts one multiply-add per weight per output position (1 MAC = 2 FLOPs), biases excluded;
``num_params`` counts weights, plus one bias per output channel when ``bias=True`` (the paper's
network has conv biases, §5). "Same" padding keeps H x W inside a module (§4, Figure 2).
"""

from __future__ import annotations

from ..network import arch

DESIGNS = ("naive", "reduced")


def conv_num_params(in_channels: int, out_channels: int, kernel: int, bias: bool = True) -> int:
    """Parameters of a ``kernel x kernel`` convolution: ``k*k*C_in*C_out`` weights (+ ``C_out`` biases)."""
    _check_positive(in_channels=in_channels, out_channels=out_channels, kernel=kernel)
    return kernel * kernel * in_channels * out_channels + (out_channels if bias else 0)


def conv_macs(in_channels: int, out_channels: int, kernel: int, hw: int | tuple[int, int]) -> int:
    """Multiply-adds of a stride-1 "same" convolution: ``k*k*C_in*C_out*H*W``.

    Args:
        hw: the spatial size of the output, an int for a square map or ``(H, W)``.
    """
    h, w = (hw, hw) if isinstance(hw, int) else hw
    _check_positive(in_channels=in_channels, out_channels=out_channels, kernel=kernel, H=h, W=w)
    return kernel * kernel * in_channels * out_channels * h * w


def _check_positive(**values: int) -> None:
    for name, v in values.items():
        if not isinstance(v, int) or v <= 0:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def _branch_convs(r: arch.Row, in_channels: int, design: str) -> dict[str, list[tuple[int, int, int]]]:
    """The convolutions ``(C_in, C_out, k)`` of each branch of one module, per Figure 2(a) or (b)."""
    if design == "naive":  # Figure 2(a): every conv sees the full input; the pool has no conv.
        return {
            "branch1": [(in_channels, r.ch1x1, 1)],
            "branch2": [(in_channels, r.ch3x3, 3)],
            "branch3": [(in_channels, r.ch5x5, 5)],
            "branch4": [],
        }
    if design == "reduced":  # Figure 2(b): 1x1 reductions first, 1x1 projection after the pool.
        return {
            "branch1": [(in_channels, r.ch1x1, 1)],
            "branch2": [(in_channels, r.ch3x3red, 1), (r.ch3x3red, r.ch3x3, 3)],
            "branch3": [(in_channels, r.ch5x5red, 1), (r.ch5x5red, r.ch5x5, 5)],
            "branch4": [(in_channels, r.pool_proj, 1)],
        }
    raise ValueError(f"unknown design {design!r}; expected one of {DESIGNS} (Figure 2(a) or (b))")


def module_cost(key: str, design: str = "reduced", in_channels: int | None = None,
                bias: bool = True) -> dict:
    """Cost of one Inception module of Table 1 built as Figure 2(a) (``"naive"``) or (b) (``"reduced"``).

    Args:
        key: a Table 1 module, e.g. ``"inception3a"``.
        design: ``"naive"`` (Figure 2(a)) or ``"reduced"`` (Figure 2(b)).
        in_channels: input depth; defaults to the depth Table 1 feeds the module. Pass a larger
            value to see what a naive module costs when it sits on a naive predecessor.
        bias: count one bias per convolution output channel.

    Returns:
        dict with ``module``, ``design``, ``in_channels``, ``out_channels`` (concatenated depth),
        ``hw`` (H, W), ``num_params``, ``macs`` and ``branch_macs`` (branch name -> MACs).
    """
    r = arch.row(key)
    if r.kind != "inception":
        raise ValueError(f"{key!r} is a {r.kind} row, not an Inception module; use one of {arch.INCEPTION_KEYS}")
    if in_channels is None:
        in_channels = arch.in_channels(key)
    _check_positive(in_channels=in_channels)
    hw = r.out_hw
    convs = _branch_convs(r, in_channels, design)
    branch_macs = {b: sum(conv_macs(ci, co, k, hw) for ci, co, k in cs) for b, cs in convs.items()}
    num_params = sum(conv_num_params(ci, co, k, bias) for cs in convs.values() for ci, co, k in cs)
    # The pool branch of (a) keeps all input channels; in (b) it is projected to pool_proj.
    pool_depth = in_channels if design == "naive" else r.pool_proj
    out_channels = r.ch1x1 + r.ch3x3 + r.ch5x5 + pool_depth
    return {"module": key, "design": design, "in_channels": in_channels, "out_channels": out_channels,
            "hw": hw, "num_params": num_params, "macs": sum(branch_macs.values()), "branch_macs": branch_macs}


def compare_designs(bias: bool = True) -> list[dict]:
    """Figure 2(a) vs (b) for each of the nine modules, each fed the input depth of Table 1.

    Returns one dict per module: ``module``, ``in_channels``, ``naive_/reduced_`` ``out_channels``,
    ``num_params`` and ``macs``, and the ratios ``macs_ratio`` and ``params_ratio`` (naive / reduced).
    """
    rows = []
    for key in arch.INCEPTION_KEYS:
        a, b = module_cost(key, "naive", bias=bias), module_cost(key, "reduced", bias=bias)
        rows.append({
            "module": key, "in_channels": a["in_channels"],
            "naive_out_channels": a["out_channels"], "reduced_out_channels": b["out_channels"],
            "naive_num_params": a["num_params"], "reduced_num_params": b["num_params"],
            "naive_macs": a["macs"], "reduced_macs": b["macs"],
            "params_ratio": a["num_params"] / b["num_params"], "macs_ratio": a["macs"] / b["macs"],
        })
    return rows


def stacked(design: str, bias: bool = True) -> list[dict]:
    """The nine modules stacked as in Table 1, every one built as ``design``.

    Max pools between stages halve H x W and keep depth, so a module's input depth is the previous
    module's output depth (192 for 3a, from the stem). With ``"naive"`` the pooling branch carries the
    whole input forward, so depth only grows: ``D_out = D_in + ch1x1 + ch3x3 + ch5x5`` (§4).

    Returns one :func:`module_cost` dict per module, plus ``cumulative_macs``.
    """
    depth = arch.in_channels(arch.INCEPTION_KEYS[0])
    total = 0
    out = []
    for key in arch.INCEPTION_KEYS:
        c = module_cost(key, design, in_channels=depth, bias=bias)
        total += c["macs"]
        c["cumulative_macs"] = total
        out.append(c)
        depth = c["out_channels"]
    return out


def reduction_example(in_channels: int = 192, out_channels: int = 32, reduce_to: int = 16,
                      hw: int = 28, kernel: int = 5) -> dict:
    """A single 5x5 convolution with and without a Network-in-Network 1x1 reduction in front (§2, §4).

    The defaults are the 5x5 branch of inception (3a) in Table 1: 192 -> 32 channels on 28x28, with a
    1x1 reduction to 16 ("#5x5 reduce").

    Returns:
        dict with ``direct_macs``, ``reduced_macs`` (1x1 then kxk), ``direct_num_params``,
        ``reduced_num_params`` (weights only) and ``macs_ratio`` (direct / reduced).
    """
    direct = conv_macs(in_channels, out_channels, kernel, hw)
    reduced = conv_macs(in_channels, reduce_to, 1, hw) + conv_macs(reduce_to, out_channels, kernel, hw)
    return {
        "direct_macs": direct, "reduced_macs": reduced,
        "direct_num_params": conv_num_params(in_channels, out_channels, kernel, bias=False),
        "reduced_num_params": conv_num_params(in_channels, reduce_to, 1, bias=False)
        + conv_num_params(reduce_to, out_channels, kernel, bias=False),
        "macs_ratio": direct / reduced,
    }


def widening_macs(base_channels: int, factors: list[int] | tuple[int, ...], hw: int = 28,
                  kernel: int = 3) -> list[dict]:
    """§3: two chained ``kernel x kernel`` convolutions inside a network, every depth widened by k.

    Both layers map ``k*C`` channels to ``k*C`` channels, so each costs ``k**2`` times the base:
    "any uniform increase in the number of their filters results in a quadratic increase of
    computation" (§3). Returns one dict per factor with ``factor``, ``channels`` and ``macs`` (both
    layers together).
    """
    rows = []
    for k in factors:
        _check_positive(factor=k)
        c = base_channels * k
        rows.append({"factor": k, "channels": c, "macs": 2 * conv_macs(c, c, kernel, hw)})
    return rows
