"""Notebook 05's full evaluation, timed: Table 3's crops on Imagenette's validation photos, three models.

Notebook 05 in full mode scores every validation photo (3,925) whole, with 1 and with 10 crops, and a
seeded subset of 500 with all 144 crops of §7, for each of three end-of-epoch snapshots of the training
run (:func:`utils.results.photo_results.table3_photos`, on :func:`utils.network.fast.optimize_for_inference`).
This module runs that same evaluation with the same sizes and times it. The snapshots are not part of the
shipped files, so the shipped model stands in for each of the three: an evaluation's time depends on the
network's shape and the photos, not on the values of its weights. Reading the photos is timed apart.
"""

from __future__ import annotations

import torch

# notebook 05's full-mode sizes (its first code cell): all photos, 500 with 144 crops, three snapshots
NUM_MODELS = 3
NUM_PHOTOS_144 = 500


def run(num_models: int = NUM_MODELS, num_photos: int | None = None, num_144: int = NUM_PHOTOS_144,
        data=None, progress: bool = True) -> dict:
    """Seconds to read the photos and to evaluate ``num_models`` models the way notebook 05 does.

    Returns:
        ``{"skipped": why}`` when the shipped model or the photos are missing; otherwise the model's name,
        ``photos``, ``photos_144``, ``models``, ``read_s``, ``evaluate_s`` and ``seconds`` (a DataFrame:
        model, scheme, photos, seconds).
    """
    from utils.measuring.timing import stopwatch
    from utils.results.photo_results import table3_photos, validation_photos
    from utils.training.pretrained import photo_model

    try:
        model, info = photo_model()
    except FileNotFoundError as exc:
        return {"skipped": str(exc)}
    try:
        with stopwatch() as reading:
            images, labels = validation_photos(224, num=num_photos, data=data, progress=progress)
    except FileNotFoundError as exc:
        return {"skipped": str(exc)}
    # the notebook's subset: the same seed and the same draw
    subset = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:num_144].sort().values
    with stopwatch() as evaluating:
        result = table3_photos([model] * num_models, images, labels, info.image_size, info.mean, info.std,
                               subset_144=subset)
    return {"model": info.name, "image_size": info.image_size, "photos": len(images), "photos_144": len(subset),
            "models": num_models, "read_s": reading.seconds, "evaluate_s": evaluating.seconds,
            "seconds": result["seconds"]}


def markdown(result: dict) -> str:
    """The report's section: the total against notebook 05's 25-minute budget, and each scheme's time."""
    from .report import _table

    if "skipped" in result:
        return f"Not measured: {result['skipped']}"
    per_scheme = result["seconds"].groupby("scheme", sort=False)["seconds"].agg(["mean", "min", "max"])
    per_scheme = per_scheme.rename(columns={"mean": "mean s per model", "min": "fastest model s",
                                            "max": "slowest model s"}).round(1).reset_index()
    total = (result["read_s"] + result["evaluate_s"]) / 60
    return "\n".join([
        f"Notebook 05's full evaluation: {result['photos']:,} validation photos whole, with 1 and 10 crops, and "
        f"{result['photos_144']} of them with 144 crops, for {result['models']} models at {result['image_size']} "
        f"px ({result['model']} standing in for each of the snapshots, since the time does not depend on the "
        f"weights' values). Reading the photos: {result['read_s'] / 60:.1f} min; the evaluation: "
        f"{result['evaluate_s'] / 60:.1f} min; together {total:.1f} min (budget 25 min).",
        "",
        _table(per_scheme, floatfmt=".1f"),
    ])
