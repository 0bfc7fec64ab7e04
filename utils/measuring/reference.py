"""Published figures of torchvision's ImageNet models, used to place GoogLeNet beside AlexNet and VGG-16 (§1).

The numbers are copied from torchvision's model documentation
(https://pytorch.org/vision/stable/models.html, the "Table of all available classification weights"):
ImageNet-1K validation accuracy of the IMAGENET1K_V1 weights at a single 224x224 centre crop, parameter
count, file size, and the column the docs call "GFLOPS", which counts multiply-adds (1 MAC = 2 FLOPs),
so it is stored here as ``gmacs``. These are torchvision's retrained models, not the numbers of the
original papers; torchvision's googlenet also differs from the paper's network (batch norm, a 3x3 in place
of the 5x5 branch).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """One row of torchvision's published table."""

    model: str
    weights: str
    acc1: float  # top-1 accuracy, %
    acc5: float  # top-5 accuracy, %
    num_params: int
    gmacs: float  # the docs' "GFLOPS" column: billions of multiply-adds
    file_size_mb: float


TORCHVISION: tuple[Reference, ...] = (
    Reference("googlenet", "GoogLeNet_Weights.IMAGENET1K_V1", 69.778, 89.530, 6_624_904, 1.498, 49.731),
    Reference("alexnet", "AlexNet_Weights.IMAGENET1K_V1", 56.522, 79.066, 61_100_840, 0.714, 233.087),
    Reference("vgg16", "VGG16_Weights.IMAGENET1K_V1", 71.592, 90.382, 138_357_544, 15.47, 527.796),
)

# §1: the 2012 winner (Krizhevsky et al.) had about 60 million parameters (their paper's abstract).
ALEXNET_2012_NUM_PARAMS = 60_000_000
# §1: "our GoogLeNet ... uses 12x fewer parameters than the winning architecture of Krizhevsky et al."
PAPER_PARAMS_RATIO_VS_ALEXNET = 12


def reference(model: str) -> Reference:
    """The published row for ``model`` (``"googlenet"``, ``"alexnet"`` or ``"vgg16"``)."""
    for r in TORCHVISION:
        if r.model == model:
            return r
    raise KeyError(f"no torchvision reference for {model!r}; known: {', '.join(r.model for r in TORCHVISION)}")
