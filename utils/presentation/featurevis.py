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

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..network.arch import IMAGENET_MEAN, IMAGENET_STD

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
    """An RGB image parameterised by its (decorrelated-colour) Fourier spectrum.

    Shape:
        forward() -> (1, 3, size, size) with values in (0, 1)
    """

    def __init__(self, size: int, decay: float = 1.0, sd: float = 0.01, generator: torch.Generator | None = None):
        super().__init__()
        self.size = size
        fy = np.fft.fftfreq(size)[:, None]
        fx = np.fft.rfftfreq(size)[None, :]
        freqs = np.sqrt(fx**2 + fy**2)
        # 1/f scaling; the floor keeps the DC term finite
        scale = 1.0 / np.maximum(freqs, 1.0 / size) ** decay
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))
        self.spectrum = nn.Parameter(torch.randn(3, size, size // 2 + 1, 2, generator=generator) * sd)
        colour = COLOUR_CORRELATION_SQRT / np.max(np.linalg.norm(COLOUR_CORRELATION_SQRT, axis=0))
        self.register_buffer("colour", torch.tensor(colour))

    def forward(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        # norm="ortho" keeps pixel variance independent of the image size
        img = torch.fft.irfft2(spectrum, s=(self.size, self.size), norm="ortho") / 4.0
        img = torch.einsum("chw,dc->dhw", img, self.colour)  # decorrelated -> RGB
        return torch.sigmoid(img).unsqueeze(0)


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
    theta = img.new_tensor([[cos, -sin, 0.0], [sin, cos, 0.0]]).unsqueeze(0)
    grid = F.affine_grid(theta, list(img.shape), align_corners=False)
    img = F.grid_sample(img, grid, padding_mode="reflection", align_corners=False)
    dy, dx = shift()
    img = torch.roll(img, (dy, dx), dims=(-2, -1))
    return img[..., jitter:jitter + n, jitter:jitter + n]


class _Reached(Exception):
    """Raised by the hook once the target layer ran: the rest of the network is not needed."""


def visualize_channel(model: nn.Module, name: str, channel: int, cfg: FeatureVisConfig | None = None,
                      mean=IMAGENET_MEAN, std=IMAGENET_STD, progress: bool = False) -> tuple[np.ndarray, list[float]]:
    """Optimise an image that maximises the mean activation of ``channel`` in layer ``name``.

    Args:
        model: the network (put into eval mode here; its parameters are left untouched).
        name: a submodule path such as ``"inception3a.branch3"`` (see :mod:`utils.network.hooks`).
        channel: channel index inside that submodule's output.
        mean, std: the input normalisation the model was trained with (one value each for a
            grayscale model, which then sees the same normalisation on all three channels).

    Returns:
        The image as (size, size, 3) floats in [0, 1], and the objective at every step.
    """
    cfg = cfg or FeatureVisConfig()
    modules = dict(model.named_modules())
    if name not in modules or not name:
        from ..network.hooks import default_names
        raise ValueError(f"unknown module name {name!r}; try one of {', '.join(default_names()[:10])}, ...")
    generator = torch.Generator().manual_seed(cfg.seed)
    param = FourierImage(cfg.size, cfg.decay, generator=generator)
    optimiser = torch.optim.Adam(param.parameters(), lr=cfg.lr)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    captured: dict[str, torch.Tensor] = {}

    def hook(_m, _i, out):
        captured["out"] = out.clone()  # a clone keeps autograd safe from the in-place ReLU downstream
        raise _Reached

    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval().requires_grad_(False)
    handle = modules[name].register_forward_hook(hook)
    history = []
    try:
        for _ in tqdm(range(cfg.steps), desc=f"{name}:{channel}", disable=not progress, leave=False):
            x = random_transform(param(), cfg, generator)
            try:
                model((x - mean_t) / std_t)
            except _Reached:
                pass
            out = captured.pop("out")
            if not 0 <= channel < out.shape[1]:
                raise ValueError(f"channel {channel} out of range: {name} has {out.shape[1]} channels")
            objective = out[0, channel].mean()
            optimiser.zero_grad()
            (-objective).backward()
            optimiser.step()
            history.append(float(objective.detach()))
    finally:
        handle.remove()
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)
    with torch.no_grad():
        image = param()[0].permute(1, 2, 0).numpy()
    return image, history
