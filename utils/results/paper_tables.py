"""Tables 2-5 of the paper (§7 classification, §8 detection) as plain Python data.

Each table is a tuple of frozen rows transcribed from the paper (arXiv:1409.4842v1). Percentages are
stored as numbers in percent (``6.67`` means 6.67%); a cell the paper prints as "?" is ``None``.
Like :mod:`utils.network.arch`, this module imports no torch, so the notes and plots can read it anywhere.
``as_frame(TABLE3)`` gives a pandas DataFrame for notebooks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ClassificationEntry:
    """One row of Table 2: an ILSVRC classification entry and its top-5 error."""

    team: str
    year: int
    place: str
    top5_error_pct: float
    external_data: str  # "no" or the extra data used, as printed


@dataclass(frozen=True)
class CropsEnsembleRow:
    """One row of Table 3: models x crops, the cost in forward passes, and the top-5 error.

    ``cost`` is what the paper prints (models x crops); ``vs_base_pct`` is the printed difference
    to the 1-model, 1-crop row (``None`` for the base row itself).
    """

    num_models: int
    num_crops: int
    cost: int
    top5_error_pct: float
    vs_base_pct: float | None


@dataclass(frozen=True)
class DetectionEntry:
    """One row of Table 4: an ILSVRC detection entry (mean average precision)."""

    team: str
    year: int
    place: str
    map_pct: float
    external_data: str
    ensemble: int | None  # number of models; None where the paper prints "?"
    approach: str


@dataclass(frozen=True)
class SingleModelDetectionEntry:
    """One row of Table 5: single-model detection mAP on the validation set."""

    team: str
    map_pct: float
    contextual_model: bool | None  # None where the paper prints "?"
    bounding_box_regression: bool | None


TABLE2: tuple[ClassificationEntry, ...] = (
    ClassificationEntry("SuperVision", 2012, "1st", 16.4, "no"),
    ClassificationEntry("SuperVision", 2012, "1st", 15.3, "Imagenet 22k"),
    ClassificationEntry("Clarifai", 2013, "1st", 11.7, "no"),
    ClassificationEntry("Clarifai", 2013, "1st", 11.2, "Imagenet 22k"),
    ClassificationEntry("MSRA", 2014, "3rd", 7.35, "no"),
    ClassificationEntry("VGG", 2014, "2nd", 7.32, "no"),
    ClassificationEntry("GoogLeNet", 2014, "1st", 6.67, "no"),
)
"""Table 2: classification performance (top-5 error) of ILSVRC 2012-2014 entries."""

TABLE3: tuple[CropsEnsembleRow, ...] = (
    CropsEnsembleRow(1, 1, 1, 10.07, None),
    CropsEnsembleRow(1, 10, 10, 9.15, -0.92),
    CropsEnsembleRow(1, 144, 144, 7.89, -2.18),
    CropsEnsembleRow(7, 1, 7, 8.09, -1.98),
    CropsEnsembleRow(7, 10, 70, 7.62, -2.45),
    # Every copy of the paper prints -3.45% here although 6.67 - 10.07 = -3.40; kept as printed.
    CropsEnsembleRow(7, 144, 1008, 6.67, -3.45),
)
"""Table 3: GoogLeNet classification with several models and crops (validation set, top-5 error)."""

TABLE4: tuple[DetectionEntry, ...] = (
    DetectionEntry("UvA-Euvision", 2013, "1st", 22.6, "none", None, "Fisher vectors"),
    DetectionEntry("Deep Insight", 2014, "3rd", 40.5, "ImageNet 1k", 3, "CNN"),
    DetectionEntry("CUHK DeepID-Net", 2014, "2nd", 40.7, "ImageNet 1k", None, "CNN"),
    DetectionEntry("GoogLeNet", 2014, "1st", 43.9, "ImageNet 1k", 6, "CNN"),
)
"""Table 4: ILSVRC detection performance (mAP) of 2013-2014 entries."""

TABLE5: tuple[SingleModelDetectionEntry, ...] = (
    SingleModelDetectionEntry("Trimps-Soushen", 31.6, False, None),
    SingleModelDetectionEntry("Berkeley Vision", 34.5, False, True),
    SingleModelDetectionEntry("UvA-Euvision", 35.4, None, None),
    SingleModelDetectionEntry("CUHK DeepID-Net2", 37.7, False, None),
    SingleModelDetectionEntry("GoogLeNet", 38.02, False, False),
    SingleModelDetectionEntry("Deep Insight", 40.2, True, True),
)
"""Table 5: single-model detection performance (mAP) on the validation set."""

TABLES = {2: TABLE2, 3: TABLE3, 4: TABLE4, 5: TABLE5}
"""The tables by their number in the paper."""

CAPTIONS = {
    2: "Table 2: Classification performance (ILSVRC, top-5 error)",
    3: "Table 3: GoogLeNet classification performance break down (models x crops)",
    4: "Table 4: Detection performance (ILSVRC, mAP)",
    5: "Table 5: Single model performance for detection (mAP)",
}

# §8: the GoogLeNet detection entry, in numbers the notes and the notebook quote.
DETECTION_ENSEMBLE_SIZE = 6  # §8 / Table 4: "ensemble of 6 ConvNets"
DETECTION_SINGLE_MAP_PCT = 38.02  # Table 5
DETECTION_ENSEMBLE_MAP_PCT = 43.9  # Table 4
# §7: the final submission
CLASSIFICATION_ENSEMBLE_SIZE = 7
CLASSIFICATION_SCALES = (256, 288, 320, 352)  # §7: shorter side of the four test scales
CLASSIFICATION_CROPS = 144  # §7: 4 scales x 3 squares x 6 crops x 2 mirrors


def table(number: int):
    """The rows of Table ``number`` (2, 3, 4 or 5)."""
    try:
        return TABLES[number]
    except KeyError:
        raise ValueError(f"this module holds Tables {sorted(TABLES)}, not Table {number!r}; "
                         "Table 1 lives in utils.network.arch") from None


def as_frame(rows_or_number):
    """A pandas DataFrame of a table, given its rows or its number."""
    import pandas as pd

    rows = table(rows_or_number) if isinstance(rows_or_number, int) else rows_or_number
    return pd.DataFrame([asdict(r) for r in rows])
