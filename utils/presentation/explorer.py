"""Looking at one Inception module's branches (§4, Figure 2(b)): the figure of the ``activations``
command and an interactive widget explorer for notebook 06.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..results.activations import record
from ..results.hooks import BRANCH_LABELS, BRANCHES, INCEPTION_MODULES, branch_names
from ..results.images import resize_square, to_input


def _branch3_label(info: dict) -> str:
    return "3x3" if info.get("variant") == "torchvision" else BRANCH_LABELS["branch3"]  # vision#906


def draw_branches(model: nn.Module, image: np.ndarray, module: str, info: dict, branch: int | None = None,
                  k: int = 8):
    """The figure of the ``activations`` command: one branch's grid, or all four side by side."""
    from . import viz

    names = branch_names(module)
    if branch is not None and not 1 <= branch <= len(BRANCHES):
        raise ValueError(f"--branch must be 1, 2, 3 or 4 (Figure 2(b): 1x1, 3x3, 5x5, pool proj), got {branch}")
    size = info["image_size"]
    img = resize_square(image, size)
    if len(info["mean"]) == 1:
        img = img.mean(-1)  # a grayscale model sees the luminance
    acts, _ = record(model, to_input(img[None], info["mean"], info["std"]), names)
    label3 = _branch3_label(info)
    if branch is None:
        return viz.module_branches({n.split(".")[1]: acts[n][0] for n in names}, k=k, module=module,
                                   branch3_label=label3)
    name = names[branch - 1]
    maps = acts[name][0]
    top = torch.argsort(maps.mean((1, 2)), descending=True)[:32].tolist()
    return viz.feature_grid(maps, channels=top, title=f"{name}: 32 strongest channels of {maps.shape[0]}")


def explorer(model: nn.Module, images: dict[str, np.ndarray], info: dict):
    """An ipywidgets explorer: pick an image, a module, a branch and a channel; see its map.

    Runs the network once per image (cached) and redraws :func:`utils.presentation.viz.channel_view`. Needs a
    live kernel (JupyterLab); a saved notebook shows a static figure in its place.
    """
    import ipywidgets as widgets
    from IPython.display import display

    from . import viz

    cache: dict[str, dict[str, torch.Tensor]] = {}

    def acts_for(key: str) -> dict[str, torch.Tensor]:
        if key not in cache:
            cache[key] = record(model, to_input(images[key][None], info["mean"], info["std"]))[0]
        return cache[key]

    image = widgets.Dropdown(options=list(images), description="image")
    module = widgets.Dropdown(options=list(INCEPTION_MODULES), description="module")
    labels = {**BRANCH_LABELS, "branch3": _branch3_label(info)}
    branch = widgets.Dropdown(options=[(f"{b} ({labels[b]})", b) for b in BRANCHES], description="branch")
    channel = widgets.IntSlider(min=0, max=63, description="channel")
    out = widgets.Output()

    def redraw(*_):
        maps = acts_for(image.value)[f"{module.value}.{branch.value}"][0]
        channel.max = maps.shape[0] - 1
        with out:
            out.clear_output(wait=True)
            fig = viz.channel_view(images[image.value], maps, min(channel.value, channel.max),
                                   name=f"{module.value}.{branch.value}")
            display(fig)

    for w in (image, module, branch, channel):
        w.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([image, module]), widgets.HBox([branch, channel]), out])
