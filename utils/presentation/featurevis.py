"""Channel feature visualization by activation maximisation (Olah, Mordvintsev and Schubert,
"Feature Visualization", Distill 2017), for looking at what one Inception branch (§4) detects.

We optimise an image so that one channel of one layer fires as strongly as possible. Three
choices from that article keep the result from collapsing into high-frequency noise:

* the image is parameterised in a Fourier basis, with each frequency scaled by 1/f, so that
  gradient steps favour the low frequencies natural images are made of;
* its colours live in a decorrelated space (the square root of ImageNet's colour covariance), so
  that a step changes luminance and colour contrast separately;
* every step sees a randomly jittered, scaled and rotated copy (transformation robustness), so
  that only features that survive small shifts are reinforced.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..network.arch import IMAGENET_MEAN, IMAGENET_STD
from ..network.images import normalise

# Square root of ImageNet's RGB colour covariance, as published with the Feature Visualization
# article (lucid, color_correlation_svd_sqrt); columns are normalised by their largest norm below.
COLOUR_CORRELATION_SQRT = np.array([[0.26, 0.09, 0.02],
                                    [0.27, 0.00, -0.05],
                                    [0.27, -0.09, 0.03]], dtype=np.float32)


@dataclass(frozen=True)
class FeatureVisConfig:
    """Settings of one optimisation; defaults follow the article where it gives them.

    Not in the paper (GoogLeNet predates this method); quick mode shrinks size and steps.
    """

    size: int = 128  # image side in pixels; the article uses 128 for its figures
    steps: int = 256  # the article: "a few hundred" steps; 512 in lucid's render defaults
    lr: float = 0.05  # Adam, lucid's default learning rate
    decay: float = 1.0  # spectrum scale 1/f**decay
    jitter: int = 8  # pixels, before and after scale/rotate (scaled with the image size below)
    scales: tuple[float, ...] = (1.0, 0.975, 1.025, 0.95, 1.05)
    max_rotate_deg: float = 5.0
    seed: int = 0

    @classmethod
    def quick(cls, **kwargs) -> FeatureVisConfig:
        """Small and short enough for a few seconds per channel on a CPU."""
        return cls(**{"size": 64, "steps": 24, "lr": 0.08, **kwargs})


class FourierImage(nn.Module):
    """A batch of RGB images, each parameterised by its own (decorrelated-colour) Fourier spectrum.

    Shape:
        forward() -> (batch, 3, size, size) with values in (0, 1)
    """

    def __init__(self, size: int, decay: float = 1.0, sd: float = 0.01, generator: torch.Generator | None = None,
                 batch: int = 1):
        super().__init__()
        self.size = size
        fy = np.fft.fftfreq(size)[:, None]
        fx = np.fft.rfftfreq(size)[None, :]
        freqs = np.sqrt(fx**2 + fy**2)
        # 1/f scaling; the floor keeps the DC term finite
        scale = 1.0 / np.maximum(freqs, 1.0 / size) ** decay
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))
        self.spectrum = nn.Parameter(torch.randn(batch, 3, size, size // 2 + 1, 2, generator=generator) * sd)
        colour = COLOUR_CORRELATION_SQRT / np.max(np.linalg.norm(COLOUR_CORRELATION_SQRT, axis=0))
        self.register_buffer("colour", torch.tensor(colour))

    def forward(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        # norm="ortho" keeps pixel variance independent of the image size
        img = torch.fft.irfft2(spectrum, s=(self.size, self.size), norm="ortho") / 4.0
        img = torch.einsum("nchw,dc->ndhw", img, self.colour)  # decorrelated -> RGB
        return torch.sigmoid(img)


def random_transform(img: torch.Tensor, cfg: FeatureVisConfig, generator: torch.Generator) -> torch.Tensor:
    """Jitter, scale, rotate, jitter (transformation robustness), as one resampling of the image."""
    n = img.shape[-1]
    jitter = max(1, round(cfg.jitter * n / 128))

    def shift():
        return torch.randint(-jitter, jitter + 1, (2,), generator=generator).tolist()

    dy, dx = shift()
    img = torch.roll(F.pad(img, (jitter,) * 4, mode="reflect"), (dy, dx), dims=(-2, -1))
    scale = cfg.scales[int(torch.randint(len(cfg.scales), (1,), generator=generator))]
    angle = math.radians(float(torch.empty(1).uniform_(-cfg.max_rotate_deg, cfg.max_rotate_deg,
                                                          generator=generator)))
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    theta = img.new_tensor([[cos, -sin, 0.0], [sin, cos, 0.0]]).expand(img.shape[0], 2, 3)  # one move for all
    grid = F.affine_grid(theta, list(img.shape), align_corners=False)
    img = F.grid_sample(img, grid, padding_mode="reflection", align_corners=False)
    dy, dx = shift()
    img = torch.roll(img, (dy, dx), dims=(-2, -1))
    return img[..., jitter:jitter + n, jitter:jitter + n]


class _Reached(Exception):
    """Raised by a hook once every target layer ran: the rest of the network is not needed."""


# A channel whose objective rose by less than this (relative), or whose image has less contrast than this
# (standard deviation of [0, 1] pixels, about two grey levels of 255), did not move: it would be drawn as a
# flat grey square, so it is reported and the next channel is tried instead.
STILL_OBJECTIVE = 1e-3
STILL_CONTRAST = 2 / 255


@dataclass(frozen=True)
class Visualization:
    """One optimised image: the layer and channel, the image (size, size, 3) in [0, 1], the objective at
    every step, and the channels tried before it that did not move (``(channel, why)``)."""

    name: str
    channel: int
    image: np.ndarray
    history: list[float]
    moved: bool
    why: str = ""
    skipped: tuple[tuple[int, str], ...] = ()

    def caption(self, width: int = 32) -> str:
        """What a figure says over the image: the channel, any channel passed over and why (lines of ``width``)."""
        text = f"{self.name.split('.')[-1]} ch {self.channel}"
        reasons: dict[str, list[int]] = {}
        for c, why in self.skipped:
            reasons.setdefault(why, []).append(c)
        for why, channels in reasons.items():
            text += "\n" + textwrap.fill(f"(ch {', '.join(map(str, channels))} {why})", width)
        if not self.moved:
            text += "\n" + textwrap.fill(f"FLAT: {self.why}", width)
        return text


def _still(history: list[float], image: np.ndarray | None) -> str:
    """Why an optimisation did not move (empty if it did); ``image`` None skips the contrast test."""
    first, best = history[0], max(history)
    if best - first <= STILL_OBJECTIVE * max(1.0, abs(first)):
        return f"did not respond (objective stayed at {history[-1]:.2g})"
    if image is not None and float(image.std()) < STILL_CONTRAST:
        return f"gave a flat image (contrast {float(image.std()):.3f})"
    return ""


def _check_targets(model: nn.Module, targets) -> dict[str, nn.Module]:
    modules = dict(model.named_modules())
    if not targets:
        raise ValueError("no channels to visualise; pass at least one (layer name, channel) pair")
    for name, _ in targets:
        if name not in modules or not name:
            from ..network.hooks import default_names
            raise ValueError(f"unknown module name {name!r}; try one of {', '.join(default_names()[:10])}, ...")
    return {name: modules[name] for name, _ in targets}


def visualize(model: nn.Module, targets, cfg: FeatureVisConfig | None = None, mean=IMAGENET_MEAN,
              std=IMAGENET_STD, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Optimise one image per ``(layer name, channel)`` target, all in one batch, each to maximise the mean
    activation of its channel.

    Only the layers up to the last target run: a hook stops the forward pass once every target layer
    has produced its output. In eval mode the images of a batch do not interact (batch norm uses its
    running statistics), so each follows the same path it would alone.

    Args:
        model: the network (put into eval mode here; its parameters are left untouched).
        targets: ``[("inception3a.branch3", 5), ...]`` (names: see :mod:`utils.network.hooks`).
        mean, std: the input normalisation the model was trained with (one value each for a
            grayscale model, which then sees the same normalisation on all three channels).

    Returns:
        ``(images (N, size, size, 3) in [0, 1], history (steps, N))``: the images and each one's objective.
    """
    cfg = cfg or FeatureVisConfig()
    targets = [(str(n), int(c)) for n, c in targets]
    layers = _check_targets(model, targets)
    generator = torch.Generator().manual_seed(cfg.seed)
    param = FourierImage(cfg.size, cfg.decay, generator=generator, batch=len(targets))
    optimiser = torch.optim.Adam(param.parameters(), lr=cfg.lr)
    captured: dict[str, torch.Tensor] = {}

    def hook_for(name):
        def hook(_m, _i, out):
            captured[name] = out.clone()  # a clone keeps autograd safe from the in-place ReLU downstream
            if len(captured) == len(layers):
                raise _Reached
        return hook

    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval().requires_grad_(False)
    handles = [module.register_forward_hook(hook_for(name)) for name, module in layers.items()]
    rows = torch.arange(len(targets))
    history = []
    try:
        for _ in tqdm(range(cfg.steps), desc=f"feature visualization ({len(targets)} channels)",
                      disable=not progress, leave=False):
            captured.clear()
            x = random_transform(param(), cfg, generator)
            try:
                model(normalise(x, mean, std))
            except _Reached:
                pass
            objective = torch.stack([_channel(captured[n], n, c)[i].mean()
                                     for i, (n, c) in zip(rows.tolist(), targets, strict=True)])
            optimiser.zero_grad()
            (-objective.sum()).backward()
            optimiser.step()
            history.append(objective.detach().numpy())
    finally:
        for handle in handles:
            handle.remove()
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)
    with torch.no_grad():
        images = param().permute(0, 2, 3, 1).numpy()
    return images, np.stack(history)


def _channel(out: torch.Tensor, name: str, channel: int) -> torch.Tensor:
    if not 0 <= channel < out.shape[1]:
        raise ValueError(f"channel {channel} out of range: {name} has {out.shape[1]} channels")
    return out[:, channel]


def visualize_channel(model: nn.Module, name: str, channel: int, cfg: FeatureVisConfig | None = None,
                      mean=IMAGENET_MEAN, std=IMAGENET_STD, progress: bool = False) -> tuple[np.ndarray, list[float]]:
    """One channel: :func:`visualize` with a single target; returns the image and its objective per step."""
    images, history = visualize(model, [(name, channel)], cfg, mean, std, progress)
    return images[0], history[:, 0].tolist()


def visualize_strongest(model: nn.Module, rankings: dict[str, list[int]], cfg: FeatureVisConfig | None = None,
                        mean=IMAGENET_MEAN, std=IMAGENET_STD, tries: int = 3, probe_steps: int = 8,
                        progress: bool = False) -> list[Visualization]:
    """For every layer, the first channel of its ranking whose optimisation moves, drawn; all layers in one batch.

    A channel that is zero everywhere on the starting (grey) image passes no gradient, so its image would
    stay a flat grey square. A short probe (``probe_steps`` steps, the first ``tries`` channels of every
    ranking in one batch) finds the channels whose objective rises; the full optimisation then runs on the
    first such channel of each layer, and the channels passed over are reported with the reason. If no
    candidate of a layer moves, or its final image is still flat, the result says so (``moved=False``,
    ``why``): never an unexplained blank.

    Args:
        rankings: layer name -> channels, best first (e.g. strongest mean activation on a photo).
    """
    cfg = cfg or FeatureVisConfig()
    candidates = [(name, c) for name, ranking in rankings.items() for c in list(ranking)[:tries]]
    probe = dataclasses.replace(cfg, steps=probe_steps)
    images, history = visualize(model, candidates, probe, mean, std, progress)
    verdict = {target: _still(history[:, i].tolist(), images[i] if probe_steps >= cfg.steps else None)
               for i, target in enumerate(candidates)}
    chosen, skipped = {}, {}
    for name, ranking in rankings.items():
        tried = list(ranking)[:tries]
        moving = [c for c in tried if not verdict[(name, c)]]
        chosen[name] = moving[0] if moving else tried[0]
        passed_over = tried[:tried.index(chosen[name])] if moving else tried[1:]  # none moved: all reported
        skipped[name] = tuple((c, verdict[(name, c)]) for c in passed_over)
    images, history = visualize(model, list(chosen.items()), cfg, mean, std, progress)
    out = []
    for i, (name, channel) in enumerate(chosen.items()):
        why = _still(history[:, i].tolist(), images[i])
        out.append(Visualization(name, channel, images[i], history[:, i].tolist(), not why, why, skipped[name]))
    return out
