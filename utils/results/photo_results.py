"""Trained results on real photographs: the Imagenette model, its validation photos, and what
notebooks 05 (§7, Table 3) and 06 (§4's branches) measure with them.

* The networks notebooks 05 and 06 measure come from the registry, :mod:`utils.training.pretrained`:
  :func:`~utils.training.pretrained.photo_model` (trained on Imagenette's photos: the shipped model, else the
  newest checkpoint of the training run), :func:`~utils.training.pretrained.reader_model` (the one notebook 06
  looks inside) and :func:`~utils.training.pretrained.load_snapshot` (one checkpoint), each with its
  :class:`~utils.network.weights_info.WeightsInfo`; :func:`ensemble_epochs` picks a snapshot ensemble from
  the snapshots of one run (:func:`utils.training.runs.snapshots` lists them).
* :func:`validation_photos` decodes Imagenette's validation photos (all, or a seeded subset) and
  never downloads: without the photos it raises FileNotFoundError saying how to get them.
* :func:`table3_photos` is Table 3's experiment on them (1, 10, 144 crops; mirrors; mean vs max;
  one model vs an ensemble), :func:`disagreement` how different the ensemble's members are, and
  :func:`table3_summary` one paragraph written from the numbers.
* :func:`conv1_filters`, :func:`colour_dependence` and :func:`colour_answer` ask Distill's question
  (is one branch of inception (3a) about colour?) of this network; :func:`colour_answer_ko` answers it in Korean.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..measuring.timing import stopwatch
from ..network.hooks import BRANCH_LABELS, BRANCHES, branch_names, record_activations
from ..network.images import protocol_input, to_float
from ..training import imagenette

GET_PHOTOS = ("Imagenette's photos are not on this machine. `python -m utils train --dataset imagenette` downloads "
              "them (about 340 MB into ~/.cache/googlenet-companion); or pass a folder with train/ and val/ "
              "as --data or $GOOGLENET_DATA")
# ITU-R BT.601 luma weights: the gray an RGB photo turns into when its colour is removed
LUMA = (0.299, 0.587, 0.114)


# ----------------------------------------------------------------------------------------------
# the snapshot ensemble


def ensemble_epochs(available: Sequence[int], count: int = 3, gap: int = 2) -> list[int]:
    """The snapshots of a snapshot ensemble: the last epoch and the ones ``gap``, ``2 gap``, ... before.

    Late snapshots of one cosine run are all near its final accuracy; the gap keeps them from being
    near-copies of each other. Falls back to the last ``count`` epochs when the gaps do not fit.
    """
    epochs = sorted(available)
    if len(epochs) < count:
        raise ValueError(f"a {count}-model ensemble needs {count} snapshots; the run has {len(epochs)}: {epochs}")
    last = epochs[-1]
    wanted = [last - k * gap for k in reversed(range(count))]
    return wanted if all(e in epochs for e in wanted) else epochs[-count:]


# ----------------------------------------------------------------------------------------------
# the photos


def validation_photos(size: int = 224, num: int | None = None, seed: int = 0, data: str | Path | None = None,
                      progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Imagenette's validation photos as uint8 squares (shorter side resized to ``size``, centre square).

    Args:
        num: a seeded random subset of this many photos (in file order), or None for all 3,925.

    Returns:
        ``(images (N, 3, size, size) uint8, labels (N,) int64)``; labels index :data:`utils.training.imagenette.WNIDS`.

    Raises:
        FileNotFoundError: the photos are not on this machine (nothing is downloaded here).
    """
    from tqdm.auto import tqdm

    if num is not None and num < 1:
        raise ValueError(f"num must be at least 1 photo (or None for all of them), got {num}")
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    folder = imagenette.find(data)
    if folder is None:
        raise FileNotFoundError(GET_PHOTOS)
    files, labels = imagenette._files(Path(folder) / "val")
    index = list(range(len(files)))
    if num is not None and num < len(files):
        g = torch.Generator().manual_seed(seed)
        index = sorted(torch.randperm(len(files), generator=g)[:num].tolist())
    images = torch.empty(len(index), 3, size, size, dtype=torch.uint8)
    for k, i in enumerate(tqdm(index, desc=f"decode {len(index)} validation photos", disable=not progress,
                               leave=False)):
        images[k] = imagenette.decode_square(files[i], size)
    return images, torch.tensor([labels[i] for i in index])


@torch.inference_mode()
def test_sizes(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, sizes: Sequence[int],
               crop_fraction: float, mean, std, batch_size: int = 100) -> pd.DataFrame:
    """Top-1 of one centre crop at several input sizes (the shipped model's protocol at each size).

    A network trained on random crops of 35-100% of a photo sees its objects larger than one
    centre crop of the same size shows them; testing at a larger size makes up for that (Touvron
    et al. 2019, "FixRes"), much as §7 tests at four scales.

    Args:
        images: (N, 3, H, W) uint8 photos; each is resized to ``round(size / crop_fraction)`` and
            centre-cropped to ``size`` (:func:`utils.network.images.protocol_input`).

    Returns:
        One row per size: ``input size``, ``resized to``, ``top1_error_pct``, ``photos``.
    """
    from ..network.fast import optimize_for_inference

    model = optimize_for_inference(model)  # same logits, faster on a CPU (benchmarks/REPORT.md)
    rows = []
    for size in sizes:
        correct = 0
        for start in range(0, len(images), batch_size):
            x = torch.stack([protocol_input(img, size, crop_fraction, mean, std)
                             for img in images[start:start + batch_size]])
            correct += int((model(x).argmax(1) == labels[start:start + batch_size]).sum())
        rows.append({"input size": size, "resized to": round(size / crop_fraction),
                     "top1_error_pct": 100 * (1 - correct / len(images)), "photos": len(images)})
    return pd.DataFrame(rows)


def as_float_hwc(images: torch.Tensor) -> np.ndarray:
    """uint8 (N, 3, H, W) -> float32 (N, H, W, 3) in [0, 1], the layout of :mod:`utils.results.activations`."""
    return to_float(images).permute(0, 2, 3, 1).numpy()


def desaturate(images: np.ndarray) -> np.ndarray:
    """Photos (N, H, W, 3) in [0, 1] with their colour removed: each pixel's luma on all three channels."""
    gray = np.asarray(images, dtype=np.float32) @ np.asarray(LUMA, dtype=np.float32)
    return np.repeat(gray[..., None], 3, axis=-1)


# ----------------------------------------------------------------------------------------------
# Table 3 on photos (§7)


def table3_photos(models: Sequence[nn.Module], images: torch.Tensor, labels: torch.Tensor, crop_size: int,
                  mean: Sequence[float], std: Sequence[float], subset_144: Sequence[int] | None = None,
                  single: int = -1, batch_size: int = 576) -> dict:
    """Table 3's experiment on photos: every model x {whole, 1, 10, 144 crops}, with timings.

    1 and 10 crops (and the whole image resized) are scored on all ``images``; 144 crops only on
    ``subset_144`` (indices into ``images``; None: all), since they cost 144 forward passes per photo.

    Returns:
        ``{"all": rows on all photos, "subset": rows on the 144-crop subset (None without 144),
        "seconds": DataFrame of measured seconds per model and scheme, "probs": the probabilities,
        "n_all": N, "n_subset": n}``; rows as :func:`utils.results.evaluate.table3_from_probabilities`, the
        1-model rows showing model ``single`` (default: the last).
    """
    from ..network.fast import optimize_for_inference
    from .evaluate import crop_probabilities, table3_from_probabilities

    if len(images) != len(labels):
        raise ValueError(f"{len(images)} photos but {len(labels)} labels")
    labels = torch.as_tensor(labels)
    subset = torch.arange(len(images)) if subset_144 is None else torch.as_tensor(list(subset_144))
    probs, timing = {}, []
    for i, model in enumerate(models):
        model = optimize_for_inference(model)  # channels-last copy: same probabilities, faster
        for scheme in ("whole", "1", "10", "144"):
            if scheme == "144" and len(subset) == 0:
                continue
            x = images[subset] if scheme == "144" else images
            with stopwatch() as watch:
                probs[i, scheme] = crop_probabilities(model, x, scheme, crop_size, mean, std, batch_size=batch_size,
                                                      progress=True, desc=f"model {i + 1}/{len(models)}, {scheme}")
            timing.append({"model": i, "scheme": scheme, "photos": len(x), "seconds": watch.seconds})
    table_all = table3_from_probabilities(probs, labels, ("whole", "1", "10"), single)
    table_sub = None
    if len(subset):
        sub = {(i, s): (p if s == "144" else p[subset]) for (i, s), p in probs.items()}
        table_sub = table3_from_probabilities(sub, labels[subset], ("whole", "1", "10", "144"), single)
    return {"all": table_all, "subset": table_sub, "seconds": pd.DataFrame(timing), "probs": probs,
            "n_all": len(images), "n_subset": len(subset)}


def disagreement(probs: Sequence[torch.Tensor]) -> pd.DataFrame:
    """How often two models' top-1 answers differ (pairwise, in percent of photos).

    Members that always agree make an ensemble no better than one of them (§7 averages models
    that differ in sampling and data order); this is the diversity a snapshot ensemble has.
    """
    if len(probs) < 2:
        raise ValueError("disagreement needs the probabilities of at least two models")
    top = [p.reshape(len(p), -1, p.shape[-1]).mean(1).argmax(-1) for p in probs]
    out = np.zeros((len(top), len(top)))
    for a in range(len(top)):
        for b in range(len(top)):
            out[a, b] = 100.0 * float((top[a] != top[b]).float().mean())
    return pd.DataFrame(out)


def _row(table: pd.DataFrame, models: int, scheme: str, mirror: bool = True, how: str = "mean") -> float:
    """Top-1 error of one row of a Table 3 analogue: ``scheme`` is "whole", "1", "10" or "144"."""
    from .evaluate import VIEWS

    t = table[(table.models == models) & (table.aggregation == how) & (table.view == VIEWS[scheme])]
    if scheme in ("10", "144"):
        t = t[t.mirror == mirror]
    if t.empty:
        raise ValueError(f"no row for {models} model(s), {scheme} crops, mirror={mirror}, {how} in the table")
    return float(t.top1_error_pct.iloc[0])


def _change(a: float, b: float) -> str:
    if abs(b - a) < 0.05:
        return "unchanged"
    return f"{'lower' if b < a else 'higher'} by {abs(b - a):.1f} points"


def table3_summary(result: dict, ensemble_label: str | None = None) -> str:
    """One paragraph on :func:`table3_photos`'s result, written from its numbers, beside Table 3's pattern."""
    from . import paper_tables

    t, n = result["all"], result["n_all"]
    one, ten, whole = _row(t, 1, "1"), _row(t, 1, "10"), _row(t, 1, "whole")
    parts = [f"On all {n:,} validation photos one model's top-1 error is {one:.1f}% with the centre crop "
             f"(whole photo resized: {whole:.1f}%), and {ten:.1f}% with 10 crops ({_change(one, ten)}); "
             f"without mirrors 10 crops give {_row(t, 1, '10', mirror=False):.1f}%, and the max over crops instead "
             f"of the mean {_row(t, 1, '10', how='max'):.1f}%."]
    models = int(t.models.max())
    if models > 1:
        e1, e10 = _row(t, models, "1"), _row(t, models, "10")
        parts.append(f"The {models}-model ensemble{f' ({ensemble_label})' if ensemble_label else ''} reaches "
                     f"{e1:.1f}% with one crop ({_change(one, e1)} against one model) and {e10:.1f}% with 10 crops.")
    s = result["subset"]
    if s is not None:
        s1, s144 = _row(s, 1, "1"), _row(s, 1, "144")
        parts.append(f"On the {result['n_subset']:,} photos scored with 144 crops, one model goes from "
                     f"{s1:.1f}% (1 crop) to {_row(s, 1, '10'):.1f}% (10) and {s144:.1f}% (144): "
                     f"{_change(s1, s144)}; 144 crops without mirrors {_row(s, 1, '144', mirror=False):.1f}%, "
                     f"max over crops {_row(s, 1, '144', how='max'):.1f}%.")
        if models > 1:
            parts.append(f"The ensemble with 144 crops: {_row(s, models, '144'):.1f}%.")
    paper = {(r.num_models, r.num_crops): r.top5_error_pct for r in paper_tables.TABLE3}
    parts.append(f"Table 3's pattern, for comparison (top-5 error on ImageNet): {paper[1, 1]}% -> {paper[1, 10]}% "
                 f"-> {paper[1, 144]}% for 1, 10, 144 crops of one model, and {paper[7, 1]}% for 7 models on one "
                 "crop.")
    return " ".join(parts)


def table3_values(result: dict) -> dict[str, float]:
    """The numbers of :func:`table3_photos`'s result that the notes quote, by name (for ``quoted.show``):
    top-1 errors in percent, ``err_<crops>[_nomirror|_max]_<all|sub>`` for one model and ``ens_...`` for
    the ensemble of every model in the table, plus the photo counts."""
    t, s = result["all"], result["subset"]
    models = int(t.models.max())
    out = {"n_all": result["n_all"], "err_whole_all": _row(t, 1, "whole"), "err_1_all": _row(t, 1, "1"),
           "err_10_all": _row(t, 1, "10"), "err_10_nomirror_all": _row(t, 1, "10", mirror=False),
           "err_10_max_all": _row(t, 1, "10", how="max")}
    if models > 1:
        out |= {"ens_err_1_all": _row(t, models, "1"), "ens_err_10_all": _row(t, models, "10")}
    if s is not None:
        out |= {"n_sub": result["n_subset"], "err_1_sub": _row(s, 1, "1"), "err_10_sub": _row(s, 1, "10"),
                "err_144_sub": _row(s, 1, "144"), "err_144_nomirror_sub": _row(s, 1, "144", mirror=False),
                "err_144_max_sub": _row(s, 1, "144", how="max")}
        if models > 1:
            out["ens_err_144_sub"] = _row(s, models, "144")
    return out


def _change_ko(a: float, b: float) -> str:
    if abs(b - a) < 0.05:
        return "변화 없음"
    return f"{abs(b - a):.1f}포인트 {'낮음' if b < a else '높음'}"


def table3_summary_ko(result: dict, ensemble_label: str | None = None) -> str:
    """:func:`table3_summary` in Korean: the same numbers, the same order."""
    v = table3_values(result)
    parts = [f"검증 사진 {v['n_all']:,}장 전체에서 모델 하나의 top-1 오류율은 중앙 크롭 하나로 {v['err_1_all']:.1f}%"
             f"(사진 전체를 줄이면 {v['err_whole_all']:.1f}%), 크롭 10개로 {v['err_10_all']:.1f}%입니다"
             f"({_change_ko(v['err_1_all'], v['err_10_all'])}). "
             f"반전을 빼면 크롭 10개가 {v['err_10_nomirror_all']:.1f}%, "
             f"크롭 평균 대신 최댓값을 쓰면 {v['err_10_max_all']:.1f}%입니다."]
    if "ens_err_1_all" in v:
        models = int(result["all"].models.max())
        label = f"({ensemble_label})" if ensemble_label else ""
        parts.append(f"모델 {models}개 앙상블{label}은 크롭 하나로 {v['ens_err_1_all']:.1f}%"
                     f"(모델 하나보다 {_change_ko(v['err_1_all'], v['ens_err_1_all'])}), 크롭 10개로 "
                     f"{v['ens_err_10_all']:.1f}%입니다.")
    if "err_144_sub" in v:
        parts.append(f"크롭 144개로 채점한 {v['n_sub']:,}장에서는 모델 하나가 {v['err_1_sub']:.1f}%(크롭 1개), "
                     f"{v['err_10_sub']:.1f}%(10개), {v['err_144_sub']:.1f}%(144개)입니다"
                     f"({_change_ko(v['err_1_sub'], v['err_144_sub'])}). 반전 없는 144개는 "
                     f"{v['err_144_nomirror_sub']:.1f}%, 크롭 최댓값은 {v['err_144_max_sub']:.1f}%입니다.")
        if "ens_err_144_sub" in v:
            parts.append(f"앙상블에 크롭 144개를 쓰면 {v['ens_err_144_sub']:.1f}%입니다.")
    parts.append(_table3_pattern_ko())
    return " ".join(parts)


def _table3_pattern_ko() -> str:
    from . import paper_tables

    paper = {(r.num_models, r.num_crops): r.top5_error_pct for r in paper_tables.TABLE3}
    return (f"비교하자면 표 3의 양상(ImageNet의 top-5 오류율)은 모델 하나에 크롭 1개, 10개, 144개로 "
            f"{paper[1, 1]}% -> {paper[1, 10]}% -> {paper[1, 144]}%, 모델 7개에 크롭 하나로 {paper[7, 1]}%입니다.")


# ----------------------------------------------------------------------------------------------
# colour in the branches (Distill's question, for this network)


def conv1_filters(model: nn.Module) -> np.ndarray:
    """conv1's filters as small RGB images (64, k, k, 3) in [0, 1]: 0.5 is a zero weight.

    Each filter is scaled by its own largest absolute weight, so weak and strong filters are both
    visible; a gray filter weighs R, G and B alike, a coloured one does not.
    """
    w = model.conv1.conv.weight.detach().float()
    if w.shape[1] != 3:
        raise ValueError(f"conv1 has {w.shape[1]} input channels; RGB filters need 3")
    scale = w.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    return (0.5 + 0.5 * w / scale).permute(0, 2, 3, 1).numpy()


def filter_colour(model: nn.Module) -> np.ndarray:
    """For each conv1 filter, the share of its weight energy that is colour rather than luminance.

    A filter's weights per pixel are split into their mean over R, G, B (what it sees of gray) and
    the rest (what only colour can drive); 0 for a gray filter, up to 1 for a purely chromatic one.
    """
    w = model.conv1.conv.weight.detach().double()
    gray = w.mean(dim=1, keepdim=True).expand_as(w)
    return ((w - gray).pow(2).sum((1, 2, 3)) / w.pow(2).sum((1, 2, 3)).clamp_min(1e-30)).numpy()


@torch.no_grad()
def colour_dependence(model: nn.Module, x_colour: torch.Tensor, x_gray: torch.Tensor,
                      modules: Sequence[str] = ("inception3a",), threshold: float = 0.5) -> pd.DataFrame:
    """How much each branch's channels lose when the photos lose their colour.

    For every channel, r = its strongest response on each photo, averaged over photos, for the colour
    photos and for the same photos desaturated (:func:`desaturate`); dependence = 1 - r_gray / r_colour
    (0: colour does not matter, 1: silent without colour; negative: stronger in gray). Channels that
    never fire on the colour photos are left out.

    Returns:
        Columns module, branch, channels (that fire), dependence (mean), median, colour_share (share
        of channels with dependence above ``threshold``).
    """
    names = [n for m in modules for n in branch_names(m)]
    with record_activations(model, names) as acts:
        model(x_colour)
    colour = {n: a.amax(dim=(-2, -1)).mean(0) for n, a in acts.items()}
    with record_activations(model, names) as acts:
        model(x_gray)
    gray = {n: a.amax(dim=(-2, -1)).mean(0) for n, a in acts.items()}
    rows = []
    for name in names:
        alive = colour[name] > 1e-6
        dep = (1 - gray[name][alive] / colour[name][alive]).numpy()
        module, branch = name.split(".")
        rows.append({"module": module, "branch": branch, "channels": int(alive.sum()),
                     "dependence": float(dep.mean()) if len(dep) else float("nan"),
                     "median": float(np.median(dep)) if len(dep) else float("nan"),
                     "colour_share": float((dep > threshold).mean()) if len(dep) else float("nan")})
    return pd.DataFrame(rows)


def _colour_reading(colourfulness: pd.DataFrame, dependence: pd.DataFrame, module: str, branch3_label: str,
                    margin: float) -> dict:
    """The numbers :func:`colour_answer` and :func:`colour_answer_ko` write about, and the verdict they lead to:
    ``"yes"`` (both measures name one branch, each by more than ``margin``), ``"leans"`` (one branch, by less on
    at least one measure) or ``"split"`` (the measures name different branches)."""
    labels = {**BRANCH_LABELS, "branch3": branch3_label}
    c = colourfulness[colourfulness.module == module].set_index("branch")["ratio"].reindex(BRANCHES)
    d = dependence[dependence.module == module].set_index("branch")["dependence"].reindex(BRANCHES)
    share = dependence[dependence.module == module].set_index("branch")["colour_share"].reindex(BRANCHES)
    c_best, d_best = c.idxmax(), d.idxmax()
    c_next, d_next = c.drop(c_best).max(), d.drop(d_best).max()
    if c_best == d_best and c[c_best] > (1 + margin) * c_next and d[d_best] > (1 + margin) * d_next:
        verdict = "yes"
    else:
        verdict = "leans" if c_best == d_best else "split"
    return {"c_name": f"{c_best} ({labels[c_best]})", "d_name": f"{d_best} ({labels[d_best]})",
            "c_best": c[c_best], "c_next": c_next, "d_best": 100 * d[d_best], "d_next": 100 * d_next,
            "d_share": 100 * share[d_best], "margin": 100 * margin, "verdict": verdict}


def colour_answer(colourfulness: pd.DataFrame, dependence: pd.DataFrame, module: str = "inception3a",
                  branch3_label: str = BRANCH_LABELS["branch3"], margin: float = 0.1) -> str:
    """Distill's question for this network, answered from the two measurements.

    Args:
        colourfulness: :func:`utils.results.activations.branch_specialisation` with the colourfulness score.
        dependence: :func:`colour_dependence`.
        margin: how much the leading branch must exceed the next (relative) on both measures to
            count as "the colour branch".
    """
    r = _colour_reading(colourfulness, dependence, module, branch3_label, margin)
    text = (f"In {module}, the top patches of {r['c_name']} are the most colourful: {r['c_best']:.2f} times the "
            f"colourfulness of grid patches, against {r['c_next']:.2f} for the next branch. Taking the colour out of "
            f"the photos costs {r['d_name']} the most: its channels lose {r['d_best']:.0f}% of their peak "
            f"response on average ({r['d_share']:.0f}% of them lose more than half), against "
            f"{r['d_next']:.0f}% for the next branch. ")
    if r["verdict"] == "yes":
        text += (f"So in this network, yes: {r['c_name']} is the colour branch of {module}, as Distill found for "
                 "the 5x5 branch of the original GoogLeNet's mixed3a.")
    elif r["verdict"] == "leans":
        text += (f"Both measures point at {r['c_name']}, but by less than {r['margin']:.0f}% on at least one, so "
                 "colour leans towards that branch without being confined to it.")
    else:
        text += ("The two measures name different branches, so no branch of this network's "
                 f"{module} is clearly the colour branch.")
    return text


def colour_answer_ko(colourfulness: pd.DataFrame, dependence: pd.DataFrame, module: str = "inception3a",
                     branch3_label: str = BRANCH_LABELS["branch3"], margin: float = 0.1) -> str:
    """:func:`colour_answer` in Korean: the same numbers, the same verdict."""
    r = _colour_reading(colourfulness, dependence, module, branch3_label, margin)
    text = (f"{module}에서 상위 패치의 색채도가 가장 높은 브랜치는 {r['c_name']}입니다. 격자 패치의 "
            f"{r['c_best']:.2f}배이고, 다음 브랜치는 {r['c_next']:.2f}배입니다. 사진에서 색을 빼면 가장 많이 잃는 "
            f"브랜치는 {r['d_name']}입니다. 이 브랜치의 채널은 최대 반응의 평균 {r['d_best']:.0f}%를 잃고(채널의 "
            f"{r['d_share']:.0f}%는 절반 넘게 잃습니다), 다음 브랜치는 {r['d_next']:.0f}%를 잃습니다. ")
    if r["verdict"] == "yes":
        text += (f"그러니 이 네트워크에서도 답은 '그렇다'입니다. {module}의 색 브랜치는 {r['c_name']}입니다. Distill이 "
                 "원래 GoogLeNet의 mixed3a에서 찾은 5x5 브랜치와 같습니다.")
    elif r["verdict"] == "leans":
        text += (f"두 측정이 가리키는 브랜치는 모두 {r['c_name']}입니다. 하지만 적어도 한 측정에서는 다음 브랜치와의 "
                 f"차이가 {r['margin']:.0f}%보다 작습니다. 색은 이 브랜치 쪽으로 기울 뿐, "
                 "이 브랜치에만 있지는 않습니다.")
    else:
        text += (f"두 측정이 가리키는 브랜치가 서로 다릅니다. 그러니 이 네트워크의 {module}에는 뚜렷한 색 브랜치가 "
                 "없습니다.")
    return text
