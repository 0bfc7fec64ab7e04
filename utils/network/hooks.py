"""Recording what each Inception branch computes (§4, Figure 2(b); §5, Table 1).

An Inception module runs four branches side by side and concatenates them. To see what each
branch responds to we need the output of every branch, not only the concatenation.
:func:`record_activations` attaches forward hooks to named submodules for the length of a
``with`` block and hands back their outputs.

Names are the model's attribute paths, which follow Table 1 and torchvision:
``"inception3a"`` (the concatenated module output) and ``"inception3a.branch1"`` ..
``"inception3a.branch4"`` (1x1, 3x3, 5x5 -- 3x3 in torchvision's variant -- and pool projection).
Recording is a tool on the network: training (a run's activation statistics) and the results use it alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from . import arch

# Defined once in utils.network.arch; the paper's "5x5" branch is 3x3 in torchvision's port (vision#906).
INCEPTION_MODULES: tuple[str, ...] = arch.INCEPTION_KEYS
BRANCHES, BRANCH_LABELS = arch.BRANCHES, arch.BRANCH_LABELS


def default_names() -> list[str]:
    """All nine Inception modules, each followed by its four branches (45 names)."""
    names = []
    for module in INCEPTION_MODULES:
        names.append(module)
        names.extend(f"{module}.{b}" for b in BRANCHES)
    return names


def branch_names(module: str) -> list[str]:
    """``["inception3a.branch1", ..., "inception3a.branch4"]`` for one module (validated)."""
    if module not in INCEPTION_MODULES:
        raise ValueError(f"unknown Inception module {module!r}; choose one of {', '.join(INCEPTION_MODULES)}")
    return [f"{module}.{b}" for b in BRANCHES]


def _resolve(model: nn.Module, names: Iterable[str]) -> dict[str, nn.Module]:
    modules = dict(model.named_modules())
    names = list(names)
    unknown = [n for n in names if n not in modules or n == ""]
    if unknown:
        inception = [n for n in default_names() if n in modules]
        raise ValueError(
            f"unknown module name(s) {unknown}; valid names are the Inception modules and their branches: "
            f"{', '.join(inception)} (any other attribute path from model.named_modules() also works, "
            "e.g. 'conv1' or 'inception3a.branch2.1.conv')")
    if len(set(names)) != len(names):
        raise ValueError(f"module names repeat in {names}; pass each name once")
    return {n: modules[n] for n in names}


@contextmanager
def record_activations(model: nn.Module, names: Iterable[str] | None = None) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of named submodules while the ``with`` block runs.

    Each output is stored detached and cloned: ``BasicConv2d`` applies ``F.relu(x, inplace=True)``,
    so a tensor kept by reference (a conv output, say) could be overwritten by a later layer. A
    second forward pass inside the block replaces the stored tensors. Every hook is removed on
    exit, also when the body raises.

    Args:
        model: a GoogLeNet (or any module whose ``named_modules()`` holds ``names``).
        names: attribute paths to record; default :func:`default_names` (9 modules x (1 + 4 branches)).

    Yields:
        A dict ``name -> tensor``, filled by the forward passes run inside the block.

    Shape:
        ``"inception3a.branch1"``: (N, ch1x1, H, W); ``"inception3a"``: (N, 256, H, W) for 224x224 input.

    Raises:
        ValueError: a name is not a submodule of ``model``; the message lists the valid names.
    """
    targets = _resolve(model, default_names() if names is None else names)
    store: dict[str, torch.Tensor] = {}
    handles = []

    def hook_for(name: str):
        def hook(_module, _inputs, output):
            if isinstance(output, torch.Tensor):
                store[name] = output.detach().clone()
        return hook

    try:
        for name, module in targets.items():
            handles.append(module.register_forward_hook(hook_for(name)))
        yield store
    finally:
        for handle in handles:
            handle.remove()
