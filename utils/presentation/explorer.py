"""Looking at one Inception module's branches (§4, Figure 2(b)): the figure of the ``activations``
command and the widget explorer of notebook 06.

:func:`draw_branches` is the figure both share: the reader's photo with the part the network saw, and
the strongest feature maps of one branch (or of all four) with a colour bar, titled with the module,
branch, weights and input size. :class:`BranchExplorer` holds the explorer's state without widgets
(photos, their recorded branches, which channels are dead), so it can be tested; :func:`explorer` puts
ipywidgets controls on it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..network.hooks import BRANCH_LABELS, BRANCHES, INCEPTION_MODULES, branch_names, default_names
from ..network.images import to_float
from ..results.activations import record
from ..results.images import fit_square, read_image, to_input


def branch_label(branch: str, info: dict) -> str:
    """``"branch3 (5x5)"``; torchvision's "5x5" branch is a 3x3 convolution (vision#906)."""
    label = "3x3" if branch == "branch3" and info.get("variant") == "torchvision" else BRANCH_LABELS[branch]
    return f"{branch} ({label})"


def _fill(info: dict):
    """Padding in the model's mean colour, which its normalisation turns into zeros."""
    mean = tuple(info["mean"])
    return mean if len(mean) == 3 else mean[0]


def model_input(image: np.ndarray, info: dict, fit: str = "crop") -> tuple[np.ndarray, tuple]:
    """A photo as the square the model takes (:func:`utils.results.images.fit_square` at its input size)
    and the region of the photo that square shows; a grayscale model gets the luminance."""
    square, region = fit_square(image, int(info["image_size"]), fit, fill=_fill(info))
    if len(info["mean"]) == 1 and square.ndim == 3:
        square = square.mean(-1)
    return square, region


def strongest(maps: torch.Tensor, k: int | None = None) -> list[int]:
    """Channels of one image's maps (C, h, w), strongest mean activation first (ties: lower index)."""
    means = maps.double().mean((1, 2)).numpy()
    order = np.argsort(-means, kind="stable")
    return order[:k].tolist() if k is not None else order.tolist()


def draw_branches(model: nn.Module, image: np.ndarray, module: str, info: dict, branch: int | None = None,
                  k: int | None = None, fit: str = "crop"):
    """The figure of the ``activations`` command and notebook 06.

    Args:
        image: the photo (H, W, 3) in [0, 1], any shape; ``fit`` says how it becomes the square input.
        branch: 1..4 for one branch (its ``k`` strongest channels, default 32), None for the four side
            by side (``k`` each, default 8).
        info: the model's description (a :class:`~utils.network.weights_info.WeightsInfo`, or a mapping with its
            ``source``, ``variant``, ``image_size``, ``mean``, ``std``).
    """
    from . import viz

    names = branch_names(module)
    if branch is not None and not 1 <= branch <= len(BRANCHES):
        raise ValueError(f"--branch must be 1, 2, 3 or 4 (Figure 2(b): 1x1, 3x3, 5x5, pool proj), got {branch}")
    square, region = model_input(image, info, fit)
    acts, _ = record(model, to_input(square[None], info["mean"], info["std"]), names)
    chosen = names if branch is None else [names[branch - 1]]
    k = k or (8 if branch is None else 32)
    panels, silent = {}, []
    for name in chosen:
        label = branch_label(name.split(".")[1], info)
        maps = acts[name][0]
        panels[label] = (maps, strongest(maps, k))
        silent += [(label, c) for c in panels[label][1] if float(maps[c].max()) <= 0]
    size = int(info["image_size"])
    what = f"{module}, all four branches" if branch is None else f"{module}.{next(iter(panels))}"
    weights = info.get("source") or "?"
    title = (f"{what}: strongest channels by mean activation; input {size}x{size} px\nweights: {weights}")
    return viz.activation_figure(image, square, region, panels, title, fit=fit, silent=silent,
                                 ncols=4 if branch is None else 8)


def class_photos(size: int, per_class: int = 1, data=None) -> dict[str, np.ndarray]:
    """The first ``per_class`` validation photos of each of Imagenette's ten classes, at ``size`` (centre
    square): ``{"tench (val 1)": (size, size, 3) floats in [0, 1], ...}``, in class order.

    Raises:
        FileNotFoundError: the photos are not on this machine (nothing is downloaded here).
    """
    from ..results.photo_results import GET_PHOTOS
    from ..training import imagenette

    folder = imagenette.find(data)
    if folder is None:
        raise FileNotFoundError(GET_PHOTOS)
    out = {}
    for wnid, name in zip(imagenette.WNIDS, imagenette.NAMES, strict=True):
        files = sorted(p for p in (Path(folder) / "val" / wnid).iterdir() if p.suffix.lower() in (".jpeg", ".jpg"))
        if not files:
            raise ValueError(f"no photos of {name} in {Path(folder) / 'val' / wnid}; the data set is incomplete")
        for k, f in enumerate(files[:per_class]):
            img = imagenette.decode_square(f, size)
            out[f"{name} (val {k + 1})"] = to_float(img).permute(1, 2, 0).numpy()
    return out


class BranchExplorer:
    """What the explorer shows, without widgets: photos, their recorded branches, dead channels.

    Every photo is recorded once (all 9 modules and 36 branches); a channel is *dead* when it is never
    positive, at any position, on any photo the explorer holds, so a flat map is said to be one.

    Args:
        photos: name -> the network's square input (size, size[, 3]) in [0, 1].
        info: the model's description (``mean``, ``std``, ``image_size``, ``variant``).
    """

    def __init__(self, model: nn.Module, photos: dict[str, np.ndarray], info: dict):
        if not photos:
            raise ValueError("the explorer needs at least one photo")
        self.model, self.info = model, info
        self.photos: dict[str, np.ndarray] = {}
        self.acts: dict[str, dict[str, torch.Tensor]] = {}
        self.peak: dict[str, torch.Tensor] = {}  # name -> each channel's largest value over every photo
        self._record(dict(photos))

    def _record(self, photos: dict[str, np.ndarray]) -> None:
        names = [n for n in default_names() if "." in n]
        x = to_input(np.stack(list(photos.values())), self.info["mean"], self.info["std"])
        acts, _ = record(self.model, x, names)
        for i, key in enumerate(photos):
            self.photos[key] = photos[key]
            self.acts[key] = {n: a[i] for n, a in acts.items()}
        for n, a in acts.items():
            peak = a.amax(dim=(0, 2, 3))
            self.peak[n] = peak if n not in self.peak else torch.maximum(self.peak[n], peak)

    def add_photo(self, name: str, image: np.ndarray, fit: str = "crop") -> str:
        """Add the reader's photo (any shape; ``fit`` as in :func:`model_input`); returns its name here."""
        square, _ = model_input(image, self.info, fit)
        key = name if name not in self.photos else f"{name} ({len(self.photos)})"
        self._record({key: square})
        return key

    def add_file(self, path: str | Path, fit: str = "crop") -> str:
        """Add a photo from a file (:func:`utils.results.images.read_image`: clear errors for bad files)."""
        return self.add_photo(Path(path).name, read_image(path), fit)

    def add_bytes(self, name: str, content: bytes, fit: str = "crop") -> str:
        """Add an uploaded photo: its bytes go through the same reader as a file (mode, EXIF, errors)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(name).name
            path.write_bytes(content)
            return self.add_photo(Path(name).name, read_image(path), fit)

    def maps(self, photo: str, module: str, branch: str) -> torch.Tensor:
        if photo not in self.acts:
            raise ValueError(f"no photo {photo!r} here; choose one of {', '.join(self.photos)}")
        branch_names(module)
        return self.acts[photo][f"{module}.{branch}"]

    def strongest(self, photo: str, module: str, branch: str) -> int:
        """The channel the explorer opens on: the strongest mean activation on this photo."""
        return strongest(self.maps(photo, module, branch), 1)[0]

    def dead(self, module: str, branch: str) -> list[int]:
        """Channels never positive on any photo held here."""
        return torch.nonzero(self.peak[f"{module}.{branch}"] <= 0).flatten().tolist()

    def figure(self, photo: str, module: str, branch: str, channel: int | None = None):
        """The explorer's figure for one choice (``channel`` None: the strongest)."""
        from . import viz

        maps = self.maps(photo, module, branch)
        channel = self.strongest(photo, module, branch) if channel is None else channel
        dead = channel in self.dead(module, branch)
        return viz.channel_view(self.photos[photo], maps, channel, name=f"{module}.{branch_label(branch, self.info)}",
                                dead=dead, photos_seen=len(self.photos))


def _uploaded(value) -> list[tuple[str, bytes]]:
    """ipywidgets 8's FileUpload value (a tuple of dicts) as (name, bytes) pairs."""
    return [(f["name"], bytes(f["content"])) for f in value]


def explorer(model: nn.Module, images: dict[str, np.ndarray], info: dict):
    """An ipywidgets explorer: a photo (one per class, or the reader's own: a path or an upload), a
    module, a branch and a channel; it opens every choice on the strongest channel.

    Needs a live kernel (JupyterLab); a saved notebook shows a static figure in its place.
    """
    import ipywidgets as widgets
    from IPython.display import display

    state = BranchExplorer(model, images, info)
    photo = widgets.Dropdown(options=list(state.photos), description="photo")
    module = widgets.Dropdown(options=list(INCEPTION_MODULES), description="module")
    branch = widgets.Dropdown(options=[(branch_label(b, info), b) for b in BRANCHES], description="branch")
    channel = widgets.IntSlider(min=0, max=63, description="channel")
    path = widgets.Text(placeholder="path to your photo (.jpg, .png)", description="own photo")
    add = widgets.Button(description="add")
    upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload")
    fit = widgets.Dropdown(options=["crop", "squeeze", "pad"], description="fit")
    message = widgets.HTML()
    out = widgets.Output()
    busy = {"on": False}

    def draw(*_):
        if busy["on"]:
            return
        with out:
            out.clear_output(wait=True)
            display(state.figure(photo.value, module.value, branch.value, channel.value))

    def choose(*_):  # a new photo, module or branch opens on its strongest channel
        busy["on"] = True
        try:
            maps = state.maps(photo.value, module.value, branch.value)
            channel.max = len(maps) - 1
            channel.value = state.strongest(photo.value, module.value, branch.value)
            dead = state.dead(module.value, branch.value)
            message.value = (f"{len(dead)} of {len(maps)} channels of this branch are dead (never positive on the "
                             f"{len(state.photos)} photos here)" + (f": {dead[:12]}" if dead else ""))
        finally:
            busy["on"] = False
        draw()

    def added(key: str):
        photo.options = list(state.photos)
        photo.value = key

    def add_path(*_):
        try:
            added(state.add_file(path.value.strip(), fit.value))
        except (FileNotFoundError, ValueError) as exc:
            message.value = f"<b>could not add the photo:</b> {exc}"

    def add_upload(change):
        for name, content in _uploaded(change["new"]):
            try:
                added(state.add_bytes(name, content, fit.value))
            except ValueError as exc:
                message.value = f"<b>could not add {name}:</b> {exc}"

    add.on_click(add_path)
    upload.observe(add_upload, names="value")
    for w in (photo, module, branch):
        w.observe(choose, names="value")
    channel.observe(draw, names="value")
    choose()
    box = widgets.VBox([widgets.HBox([photo, module, branch]), widgets.HBox([channel, message]),
                        widgets.HBox([path, add, upload, fit]), out])
    box.state = state  # for tests and for the curious reader
    return box
