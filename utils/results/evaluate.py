"""Crops and ensembles at test time (§7, Table 3): softmax averaged over crops and over models.

§7: "The softmax probabilities are averaged over multiple crops and over all the individual
classifiers to obtain the final prediction." The paper also tried max pooling over crops and
averaging over classifiers, which was worse; :func:`aggregate` offers both for comparison.

The functions take raw images in [0, 1] (N, C, H, W), cut them with :mod:`utils.results.crops`, normalise
each crop with the model's mean and std, and run the crops through the model in batches.
:func:`table3_analogue` builds the Table 3 experiment (1 and N models x 1, 10 and 144 crops) for
any set of models; :func:`crops_throughput` measures what the crops cost in images per second.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..measuring.timing import time_call
from ..network.images import normalise, resize, to_float
from . import paper_tables
from .crops import check_scheme, multi_crop_batch, num_crops

AGGREGATIONS = ("mean", "max")


def _check_images(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"expected raw images as an (N, C, H, W) tensor in [0, 1], got {shape}")
    if not images.is_floating_point():
        images = to_float(images)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)  # grey digits -> the 3 channels GoogLeNet takes
    return images


@torch.inference_mode()
def crop_probabilities(model: nn.Module, images: torch.Tensor, scheme: str = "144", crop_size: int = 224,
                       mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,), mirror: bool = True,
                       batch_size: int = 576, progress: bool = False, desc: str | None = None,
                       dedupe: bool = True) -> torch.Tensor:
    """Softmax probabilities of every crop of every image.

    Args:
        model: a classifier in eval mode returning logits (N, classes).
        images: raw images (N, C, H, W), floats in [0, 1] or uint8; one channel is repeated to three.
        scheme: ``"144"``, ``"10"``, ``"1"`` (see :mod:`utils.results.crops`), or ``"whole"``: the whole
            image resized to ``crop_size``, the view most training pipelines evaluate on.
        crop_size: the model's input size.
        mean, std: the normalisation the model was trained with.
        mirror: include mirrored crops.
        batch_size: crops per forward pass (whole images are cropped together).
        dedupe: run crops that are identical on every image (the three squares of a square
            photo) once; the result is the same, at a third of the cost for 144 crops.

    Returns:
        probabilities of shape (N, n_crops, classes).
    """
    _check_images(images[:1])
    if scheme != "whole":
        check_scheme(scheme)
    n = 1 if scheme == "whole" else num_crops(scheme, mirror)
    # on square images §7's three squares coincide: each distinct crop is run once, then copied
    keep, inverse = (distinct_crops(images.shape[-2:], scheme, crop_size, mirror) if dedupe and scheme != "whole"
                     else (list(range(n)), None))
    per_chunk = max(1, batch_size // len(keep))
    model.eval()
    out = []
    starts = range(0, len(images), per_chunk)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=desc or f"{scheme} crops", leave=False)
    for start in starts:
        chunk = _check_images(images[start:start + per_chunk])  # uint8 -> float one chunk at a time
        if scheme == "whole":
            crops = resize(chunk, (crop_size, crop_size)).unsqueeze(1)
        else:
            crops, _ = multi_crop_batch(chunk, scheme, crop_size, mirror)
            crops = crops[:, keep] if inverse is not None else crops
        flat = normalise(crops.flatten(0, 1), mean, std)
        probs = torch.softmax(model(flat).float(), dim=1).view(len(chunk), len(keep), -1)
        out.append(probs[:, inverse] if inverse is not None else probs)
    return torch.cat(out)


def distinct_crops(image_hw, scheme: str = "144", crop_size: int = 224,
                   mirror: bool = True) -> tuple[list[int], list[int] | None]:
    """Which of ``scheme``'s crops differ for images of size ``image_hw``.

    On a square image the left, center and right squares of §7 are the same square, so 144 crops
    hold only 48 distinct views. Returns ``(keep, inverse)``: the indices of the first crop of each
    distinct view and, for every crop, the position of its view in ``keep`` (``crops[:, keep][:,
    inverse]`` rebuilds all crops); ``inverse`` is None when every crop is distinct.
    """
    _, labels = multi_crop_batch(torch.zeros(1, 1, *image_hw), scheme, crop_size, mirror)
    square = image_hw[0] == image_hw[1]
    keys = [(lab.scale, lab.position, lab.mirror) if square else lab for lab in labels]
    first = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    if len(first) == len(keys):
        return list(range(len(keys))), None
    keep = sorted(first.values())
    where = {i: k for k, i in enumerate(keep)}
    return keep, [where[first[key]] for key in keys]


def aggregate(probs: torch.Tensor, how: str = "mean") -> torch.Tensor:
    """Combine crops: (N, n_crops, classes) -> (N, classes).

    ``"mean"`` averages the probabilities (§7's choice); ``"max"`` takes each class's largest
    probability over the crops (the "max pooling over crops" §7 found worse), renormalised to sum 1.
    """
    if how == "mean":
        return probs.mean(dim=1)
    if how == "max":
        top = probs.amax(dim=1)
        return top / top.sum(dim=1, keepdim=True)
    raise ValueError(f"unknown aggregation {how!r}; use one of {AGGREGATIONS}")


def ensemble(probs_per_model: Sequence[torch.Tensor]) -> torch.Tensor:
    """Average probabilities over models (§7); every tensor must have the same shape."""
    if not probs_per_model:
        raise ValueError("ensemble needs the probabilities of at least one model")
    shapes = {tuple(p.shape) for p in probs_per_model}
    if len(shapes) != 1:
        raise ValueError(f"models disagree on the shape of their probabilities: {sorted(shapes)}")
    return torch.stack(list(probs_per_model)).mean(dim=0)


def error_pct(probs: torch.Tensor, labels: torch.Tensor, k: int = 1) -> float:
    """Top-``k`` error in percent: the share of images whose label is not among the ``k`` best classes."""
    if probs.dim() != 2 or len(probs) != len(labels):
        raise ValueError(f"expected probabilities (N, classes) and N labels, got {tuple(probs.shape)} "
                         f"and {len(labels)} labels")
    k = min(k, probs.shape[1])
    topk = probs.topk(k, dim=1).indices
    hit = (topk == torch.as_tensor(labels).view(-1, 1)).any(dim=1)
    return 100.0 * (1.0 - hit.float().mean().item())


def _combine(probs: torch.Tensor, mirror: bool, how: str) -> torch.Tensor:
    # mirrors are the second half of the crops (utils.results.crops), so dropping them keeps the first half
    n = probs.shape[1] if mirror or probs.shape[1] == 1 else probs.shape[1] // 2
    return aggregate(probs[:, :n], how)


VIEWS = {"whole": "whole image resized", "1": "center crop", "10": "10 crops", "144": "144 crops"}


def table3_analogue(models: Sequence[nn.Module], images: torch.Tensor, labels: torch.Tensor, crop_size: int,
                    mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,),
                    schemes: Sequence[str] = ("whole", "1", "10", "144"), batch_size: int = 576,
                    progress: bool = True, single: int | None = None):
    """Table 3 on our own models: 1 and N models x each crop scheme, with cost and error.

    Each model's crop probabilities are computed once; the rows then combine them. For 10 and 144
    crops there are also rows without mirrors (the first half of the crops, see :mod:`utils.results.crops`)
    and rows with max-over-crops instead of the mean. The 1-model rows give the mean error of the
    single models (each model alone), so that one lucky seed does not stand for all; ``single=k``
    shows model k alone instead (e.g. the last of a run's snapshots).

    Returns:
        a DataFrame with columns models, view, crops, mirror, aggregation, cost (forward passes
        per image = models x crops), top1_error_pct, top5_error_pct, top1_vs_base_pct.
    """
    if not models:
        raise ValueError("table3_analogue needs at least one model")
    per_model = {}
    for i, model in enumerate(models):
        for scheme in schemes:
            per_model[i, scheme] = crop_probabilities(model, images, scheme, crop_size, mean, std,
                                                      batch_size=batch_size, progress=progress,
                                                      desc=f"model {i + 1}/{len(models)}, {scheme}")
    return table3_from_probabilities(per_model, labels, schemes, single)


def table3_from_probabilities(per_model: dict, labels: torch.Tensor,
                              schemes: Sequence[str] = ("whole", "1", "10", "144"), single: int | None = None):
    """The rows of :func:`table3_analogue` from crop probabilities already computed.

    Args:
        per_model: ``{(model_index, scheme): (N, n_crops, classes)}`` from :func:`crop_probabilities`
            (with mirrors), for model indices 0..M-1 and every scheme in ``schemes``.
        single: the model the 1-model rows show; None: the mean error of the single models.
    """
    import pandas as pd

    labels = torch.as_tensor(labels)
    count_models = 1 + max(i for i, _ in per_model)
    models = range(count_models)
    missing = [(i, s) for i in models for s in schemes if (i, s) not in per_model]
    if missing:
        raise ValueError(f"no probabilities for (model, scheme) {missing}; compute every scheme for every model")
    if single is not None and not -count_models <= single < count_models:
        raise ValueError(f"single={single} names no model; there are {count_models}")
    variants = []
    for scheme in schemes:
        variants.append((scheme, True, "mean"))
        if scheme in ("10", "144"):
            variants += [(scheme, False, "mean"), (scheme, True, "max")]
    counts = [1] + ([count_models] if count_models > 1 else [])
    rows = []
    for count in counts:
        for scheme, mirror, how in variants:
            if count == 1:
                chosen = models if single is None else [models[single]]
                singles = [_combine(per_model[i, scheme], mirror, how) for i in chosen]
                errs = [(error_pct(p, labels, 1), error_pct(p, labels, 5)) for p in singles]
                top1 = sum(e[0] for e in errs) / len(errs)
                top5 = sum(e[1] for e in errs) / len(errs)
            else:
                probs = ensemble([_combine(per_model[i, scheme], mirror, how) for i in models])
                top1, top5 = error_pct(probs, labels, 1), error_pct(probs, labels, 5)
            crops = 1 if scheme == "whole" else num_crops(scheme, mirror)
            rows.append({"models": count, "view": VIEWS[scheme], "crops": crops,
                         "mirror": mirror if crops > 1 else None, "aggregation": how, "cost": count * crops,
                         "top1_error_pct": top1, "top5_error_pct": top5})
    df = pd.DataFrame(rows)
    base = df[(df.models == 1) & (df.view == VIEWS[schemes[0]])]["top1_error_pct"].iloc[0]
    df["top1_vs_base_pct"] = df["top1_error_pct"] - base
    return df


def beside_paper(df):
    """Add the paper's Table 3 top-5 error to the matching rows of :func:`table3_analogue`.

    Rows match on the number of crops (1, 10, 144 with mirrors and mean aggregation, the paper's
    setting) and on one model versus an ensemble (the paper's ensemble has 7 models).
    """
    paper = {(r.num_models, r.num_crops): r.top5_error_pct for r in paper_tables.TABLE3}
    ens = paper_tables.CLASSIFICATION_ENSEMBLE_SIZE

    def lookup(row):
        if row["aggregation"] != "mean" or row["view"] == VIEWS["whole"] or row["mirror"] is False:
            return None
        return paper.get((1 if row["models"] == 1 else ens, row["crops"]))

    out = df.copy()
    out["paper_models"] = [1 if m == 1 else ens for m in out["models"]]
    out["paper_top5_error_pct"] = out.apply(lookup, axis=1)
    return out


@torch.inference_mode()
def crops_throughput(model: nn.Module, schemes: Sequence[str] = ("1", "10", "144"), crop_size: int = 224,
                     image_hw: tuple[int, int] | None = None, num_images: int = 4, batch_size: int = 144,
                     warmup: int = 1) -> list[dict]:
    """Images per second at test time with 1, 10 and 144 crops (cropping included).

    Args:
        model: the network in eval mode.
        crop_size: its input size; ``image_hw`` defaults to a 4:3 image of shorter side
            ``crop_size * 256/224``, like a typical photo at the first scale.
        num_images: images timed per scheme (after ``warmup`` untimed ones).

    Returns:
        one dict per scheme: scheme, crops, images_per_s, crops_per_s, seconds.
    """
    if image_hw is None:
        short = round(crop_size * 256 / 224)
        image_hw = (short, round(short * 4 / 3))
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(num_images + warmup, 3, *image_hw, generator=gen)
    rows = []
    for scheme in schemes:
        if warmup:
            crop_probabilities(model, images[:warmup], scheme, crop_size, batch_size=batch_size)
        seconds = time_call(lambda s=scheme: crop_probabilities(model, images[warmup:], s, crop_size,
                                                                batch_size=batch_size), repeats=1, warmup=0)
        n = num_crops(scheme)
        rows.append({"scheme": scheme, "crops": n, "images_per_s": num_images / seconds,
                     "crops_per_s": num_images * n / seconds, "seconds": seconds})
    return rows
