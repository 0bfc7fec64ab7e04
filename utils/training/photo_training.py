"""§5-§6 on photographs: the Imagenette model the notebooks study, its training log, and its auxiliary heads.

Notebooks 02 and 04 show trained results on real photos (Imagenette, :mod:`utils.training.imagenette`). They
read the network with the registry's :func:`utils.training.pretrained.photo_model`: the shipped model
(``assets/`` plus its JSON manifest, which carries the training curve), else the newest checkpoint of the
training run under ``runs/`` (``final.pt``, a per-epoch snapshot, or ``last.pt``; :func:`run_checkpoints`);
its description's ``name`` says which. Photos are read only from disk here, never downloaded: a notebook in
quick mode must not fetch 340 MB, so when they are missing it prints :func:`photos_missing` and carries on.

What the auxiliary classifiers do (§5) is measured two ways: the top-1 accuracy of each head on the
validation photos (:func:`head_accuracies`) and the gradient each loss sends to the early layers
(:func:`aux_gradients`).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..network.weights_info import WeightsInfo
from ..paths import RUNS
from .runs import run_log, snapshots

# The run the shipped model comes from: a 10-epoch warm restart of a 15-epoch run (the manifest's
# "command" holds both commands; runs.run_log joins their logs).
RUN_NAME = "imagenette_paper_restart2"
FIRST_RUN = "imagenette_paper_seed0"
SECOND_RUN = "imagenette_paper_restart"
# three cosine cycles, each restart at half the previous peak rate; the third starts from the second's raw
# weights as shipped (fp16, no auxiliary heads), so the export between them is part of the recipe
TRAIN_COMMANDS = (f"python -m utils train --dataset imagenette --polyak-eval-last 3 --out runs/{FIRST_RUN}",
                  f"python -m utils train --dataset imagenette --polyak-eval-last 3 --out runs/{SECOND_RUN} "
                  f"--start-from runs/{FIRST_RUN}/final.pt --epochs 10 --lr 0.01 --seed 1",
                  f"python -m utils export-model runs/{SECOND_RUN} --weights raw --out runs/{SECOND_RUN}.pt",
                  f"python -m utils train --dataset imagenette --polyak-eval-last 1 --out runs/{RUN_NAME} "
                  f"--start-from runs/{SECOND_RUN}.pt --epochs 10 --lr 0.005 --seed 2 --snapshots")


# ----------------------------------------------------------------------------------------------
# which network


def run_checkpoints(run: str = RUN_NAME, runs: Path | None = None) -> list[Path]:
    """The checkpoints of a training run, best first: ``final.pt``, the per-epoch snapshots (newest
    first; ``RUN_snapshots/snap_NN.pt``), then ``last.pt``. Only files that exist."""
    folder = Path(runs or RUNS) / run
    ordered = [folder / "final.pt", *reversed(snapshots(folder).values()), folder / "last.pt"]
    return [p for p in ordered if p.is_file()]


def load_checkpoint_models(path: str | Path) -> tuple[nn.Module, nn.Module, WeightsInfo]:
    """``(polyak, raw, info)`` from a training checkpoint: the Polyak-averaged weights (§6's final
    model) and the raw SGD weights, both in eval mode with their auxiliary heads, and the averaged
    weights' description (:func:`utils.training.pretrained.from_checkpoint`)."""
    from .checkpoint import load_checkpoint
    from .pretrained import from_checkpoint

    state = load_checkpoint(path)
    averaged, info = from_checkpoint(state, path, "averaged")
    raw, _ = from_checkpoint(state, path, "model")
    return averaged, raw, info


def recipe_of(meta: dict):
    """The :class:`~utils.training.recipe.TrainConfig` the model was trained with: its description's ``recipe``
    (the checkpoint's config, the manifest's recipe) when it is a dict of TrainConfig fields, else
    :func:`utils.training.recipe.imagenette_recipe`."""
    from .recipe import config_from_dict, imagenette_recipe

    given = meta.get("recipe")
    if isinstance(given, dict) and given:
        try:
            return config_from_dict(given)
        except ValueError:  # a recipe in another form (the manifest's words): not a TrainConfig
            pass
    return imagenette_recipe()


def training_log(meta: dict, run: str = RUN_NAME) -> tuple[list[dict], list[dict]]:
    """``(epochs, steps)`` of the model's training run.

    ``epochs``: one row per evaluation (step, epoch, lr, train_loss, val_acc, val_acc_polyak, seconds,
    stage), from the run folder's ``metrics.jsonl`` when it is there, with the logs of the runs it was
    warm-restarted from before its own (:func:`utils.training.runs.run_log`), else the history the manifest or
    the checkpoint carries. ``steps``: the loss every 10 steps from ``steps.jsonl`` (empty when only
    the manifest is available, unless it carries them under ``"steps"``).
    """
    log = run_log(RUNS / run, runs=RUNS)
    epochs, steps = log["epochs"], log["steps"]
    history = list(meta.get("history") or [])
    if len(history) > len(epochs):  # the manifest or checkpoint knows more than this machine's run folder
        epochs = history
    if not steps:
        steps = list(meta.get("steps") or [])
    return epochs, steps


def stage_recipes(meta: dict, run: str = RUN_NAME) -> list[tuple[str, object]]:
    """``(run name, TrainConfig)`` of each stage of the model's training, oldest first: one stage for a
    single run, two or more after warm restarts. From the run folders when this machine has them,
    else from the manifest's ``stages``, else ``[(run, recipe_of(meta))]``."""
    from .recipe import config_from_dict

    stages = run_log(RUNS / run, runs=RUNS)["stages"]
    if stages and all(st["config"] for st in stages) and (stages[-1]["folder"] / "final.pt").is_file():
        return [(st["folder"].name, config_from_dict(st["config"])) for st in stages]
    given = meta.get("stages") or []
    if given and all(isinstance(st.get("recipe"), dict) for st in given):
        return [(st["run"], config_from_dict(st["recipe"])) for st in given]
    return [(run, recipe_of(meta))]


def learning_rates(run: str = RUN_NAME) -> list[tuple[int, float]]:
    """``(step, learning rate)`` at every step of the run and of the runs it was warm-restarted from,
    as each one's recipe sets it (:func:`utils.training.loop.lr_factor`); empty when the run folder is missing."""
    from .loop import lr_factor
    from .recipe import config_from_dict

    rates = []
    for stage in run_log(RUNS / run, runs=RUNS)["stages"]:
        if not stage["config"] or not stage["steps_per_epoch"]:
            continue
        config = config_from_dict(stage["config"])
        per_epoch = stage["steps_per_epoch"]
        rates += [(stage["first_step"] + s, config.lr * lr_factor(s, per_epoch, config))
                  for s in range(per_epoch * config.epochs)]
    return rates


# ----------------------------------------------------------------------------------------------
# photos


def photos_missing() -> str:
    """What to tell a reader whose machine has no Imagenette photos."""
    from . import imagenette

    return ("Imagenette's photos are not on this machine (looked for a folder with train/ and val/ at "
            "$GOOGLENET_DATA, ../shared/data/imagenette and "
            f"{imagenette.cache_dir() / 'imagenette'}). Get them with `python -m utils train --dataset "
            "imagenette --max-steps 0` (downloads about 340 MB once) or point GOOGLENET_DATA at an unpacked "
            "imagenette2 folder; notebooks never download in quick mode.")


def validation_photos(num: int | None, image_size: int, crop_fraction: float = 0.875, mean=None, std=None,
                      data: str | Path | None = None, progress: bool = False):
    """Imagenette validation photos as the model sees them, or None when the photos are not on disk.

    Each photo is resized so that its shorter side is ``image_size / crop_fraction`` (antialiased
    bilinear), centre-cropped to ``image_size`` and normalised by ``mean``/``std`` (the protocol of
    the shipped model's manifest). ``num=None`` takes all 3,925 through the decoded cache of
    :func:`utils.training.imagenette.load_split`; a number takes that many spread evenly over the sorted files
    (every class), decoded directly so a quick run does not decode the whole split.

    Returns:
        ``(images, labels)``, float (N, 3, image_size, image_size) and int64 (N,), or None.
    """
    from ..network.arch import IMAGENET_MEAN, IMAGENET_STD
    from ..network.images import to_float
    from . import imagenette
    from .data import CentreCrop

    folder = imagenette.find(data)
    if folder is None:
        return None
    crop = CentreCrop(image_size, mean or IMAGENET_MEAN, std or IMAGENET_STD)
    if not 0 < crop_fraction <= 1 or image_size < 1:
        raise ValueError(f"image_size must be a positive number of pixels and crop_fraction in (0, 1] (the share of "
                         f"the resized photo the centre crop keeps), got {image_size} and {crop_fraction}")
    cache_size = round(image_size / crop_fraction)
    if num is None:
        raw, labels = imagenette.load_split(folder, "val", cache_size, progress)
    else:
        files, all_labels = imagenette._files(Path(folder) / "val")
        if not 0 < num <= len(files):
            raise ValueError(f"num must be between 1 and {len(files)} validation photos, got {num}")
        pick = torch.linspace(0, len(files) - 1, num).round().long().tolist()
        raw = torch.stack([imagenette.decode_square(files[i], cache_size) for i in pick])
        labels = torch.tensor([all_labels[i] for i in pick])
    images = torch.stack([crop(to_float(x)) for x in raw])
    return images, labels


# ----------------------------------------------------------------------------------------------
# the auxiliary classifiers (§5)


@torch.inference_mode()
def head_accuracies(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 128) -> dict:
    """Top-1 accuracy of the main classifier and of each auxiliary head, in eval mode (no dropout).

    §5 attaches the heads to inception (4a) and (4d) and discards them at inference; evaluating them
    says how much of the class the middle of the network already separates. The heads only run in
    training mode, so their inputs are taken with hooks and fed to them here.

    Returns:
        ``{"main": acc, "aux1 (on 4a)": acc, "aux2 (on 4d)": acc}`` (aux entries only if the model
        has the heads).
    """
    from ..network.hooks import record_activations

    model.eval()
    has_aux = getattr(model, "aux1", None) is not None
    correct = {"main": 0, "aux1 (on 4a)": 0, "aux2 (on 4d)": 0} if has_aux else {"main": 0}
    for i in range(0, len(images), batch_size):
        x, y = images[i:i + batch_size], labels[i:i + batch_size]
        names = ["inception4a", "inception4d"] if has_aux else []
        with record_activations(model, names) as acts:
            logits = model(x.contiguous(memory_format=torch.channels_last))
        correct["main"] += int((logits.argmax(1) == y).sum())
        if has_aux:
            correct["aux1 (on 4a)"] += int((model.aux1(acts["inception4a"]).argmax(1) == y).sum())
            correct["aux2 (on 4d)"] += int((model.aux2(acts["inception4d"]).argmax(1) == y).sum())
    return {k: v / max(len(images), 1) for k, v in correct.items()}


AUX_GRADIENT_LAYERS = ("conv1", "inception3a", "inception4a", "inception5b")


def aux_gradients(model: nn.Module, images: torch.Tensor, target: torch.Tensor, aux_weight: float = 0.3,
                  layers=AUX_GRADIENT_LAYERS, seed: int = 0) -> list[dict]:
    """Where the gradient of §5's total loss comes from, layer by layer, on one batch.

    One forward pass in training mode (dropout on, seeded); the gradient of the main loss and of
    ``aux_weight`` x (aux1 loss + aux2 loss) are taken separately, so that with the auxiliary losses
    the gradient is their sum and without them it is the main part alone.

    Returns:
        one row per layer: ``grad_main`` (norm without the auxiliary losses), ``grad_total`` (norm
        with them), ``grad_aux`` (norm of the auxiliary part), ``ratio`` (total / main) and
        ``cosine`` between the main and auxiliary parts (0: they push in unrelated directions).
    """
    if getattr(model, "aux1", None) is None:
        raise ValueError("the model has no auxiliary heads (built with aux_logits=False or shipped without "
                         "them); use a training checkpoint, whose model keeps them")
    was_training = model.training
    model.train()
    torch.manual_seed(seed)
    out = model(images.contiguous(memory_format=torch.channels_last))
    main = F.cross_entropy(out.logits, target)
    aux = aux_weight * (F.cross_entropy(out.aux_logits1, target) + F.cross_entropy(out.aux_logits2, target))
    params = {name: [p for p in model.get_submodule(name).parameters() if p.requires_grad] for name in layers}
    flat = [p for name in layers for p in params[name]]
    g_main = torch.autograd.grad(main, flat, retain_graph=True, allow_unused=True)
    g_aux = torch.autograd.grad(aux, flat, allow_unused=True)
    model.train(was_training)
    rows, i = [], 0
    for name in layers:
        n = len(params[name])
        gm = _flatten(g_main[i:i + n], params[name])
        ga = _flatten(g_aux[i:i + n], params[name])
        i += n
        nm, na, nt = gm.norm().item(), ga.norm().item(), (gm + ga).norm().item()
        rows.append({"layer": name, "grad_main": nm, "grad_total": nt, "grad_aux": na,
                     "ratio": nt / nm if nm else float("nan"),
                     "cosine": F.cosine_similarity(gm, ga, dim=0).item() if nm and na else 0.0})
    return rows


def _flatten(grads, params) -> torch.Tensor:
    return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()
                      for g, p in zip(grads, params, strict=True)])


# ----------------------------------------------------------------------------------------------
# short comparisons


def short_runs(configs: dict, data, steps: int, eval_every: int, variant: str = "paper") -> dict[str, list[dict]]:
    """Train one short run per labelled config on ``data`` (a :class:`utils.training.data.DataBundle`) and
    return each run's metric rows. Checkpoints go to a temporary folder that is deleted afterwards,
    so a comparison in a notebook leaves nothing behind."""
    from .loop import train

    out = {}
    with tempfile.TemporaryDirectory(prefix="googlenet_short_") as tmp:
        for label, config in configs.items():
            r = train(config, variant, data=data, out=Path(tmp) / re.sub(r"\W+", "_", label), max_steps=steps,
                      eval_every=eval_every, progress=False)
            out[label] = r["history"]
    return out


def first_reaching(rows: list[dict], key: str, threshold: float, at: str = "step"):
    """``row[at]`` of the first metric row whose ``row[key]`` is at least ``threshold`` (rows in the
    order they were logged; a row without ``key``, or with None there, is skipped), or None if no
    row reaches it."""
    for row in rows:
        value = row.get(key)
        if value is not None and value >= threshold:
            return row[at]
    return None


def seed_table(runs: dict[int, dict[str, list[dict]]], threshold: float, key: str = "val_acc") -> list[dict]:
    """One row per seed and label of short runs repeated over seeds (``runs[seed]`` as
    :func:`short_runs` returns it): ``key`` at the last evaluation and at its best, the first step
    where it reaches ``threshold`` (None if it never does), and whether this label ended highest
    among the seed's runs (``ahead``; False for every label of a seed where two tie at the top).

    Raises:
        ValueError: a run logged no evaluation, so it has no value to compare.
    """
    out = []
    for seed, by_label in runs.items():
        ends = {}
        for label, rows in by_label.items():
            values = [r[key] for r in rows if r.get(key) is not None]
            if not values:
                raise ValueError(f"run {label!r} of seed {seed} has no {key!r} in its metrics; evaluate at "
                                 "least once (eval_every no larger than the number of steps)")
            ends[label] = values[-1]
            out.append({"seed": seed, "label": label, "end": values[-1], "best": max(values),
                        "first_step_reaching": first_reaching(rows, key, threshold)})
        top = max(ends.values())
        alone = sum(v == top for v in ends.values()) == 1
        for row in out[-len(ends):]:
            row["ahead"] = alone and row["end"] == top
    return out
