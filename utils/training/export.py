"""Shipping a finished Imagenette run: its weights as a small fp16 file with a JSON manifest beside it.

:func:`export_model` takes the weights of a training run's ``final.pt`` (the Polyak average, §6:
"Polyak averaging was used to create the final model used at inference", or the last raw weights) and
writes them where :func:`utils.network.shipped.load_shipped` reads them. The manifest's ``val_top1`` is
measured by the export itself, on the file it has just written, with the protocol the manifest states
(:func:`utils.network.images.protocol_input`), at an input size fixed before any photo is scored
(the training size unless the user names another; ``image_size_selected_on`` records which).

A run warm-restarted from a shipped model (``train --start-from assets/googlenet_imagenette.pt``) keeps
that model's training history: the export lists the earlier stages first, from the shipped manifest.
The manifest is the weights' :class:`~utils.network.weights_info.WeightsInfo` written to JSON.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ..cli_checks import int_in
from ..files import file_digest, save_atomically, temporary_beside, write_text_atomically
from ..network.arch import min_input_size
from ..network.images import protocol_input, read_uint8
from ..network.shipped import (
    AUX_PREFIXES,
    MAX_BYTES,
    SHIPPED,
    _bytes_of,
    averaged_weights,
    build,
    manifest_path,
    to_fp16,
)
from ..network.weights_info import WeightsInfo
from ..paths import ROOT
from .checkpoint import load_checkpoint
from .imagenette import NAMES, WNIDS, locate
from .recipe import recipe_for
from .runs import checkpoint_of, holds_run, run_log


@torch.inference_mode()
def measure_top1(model: nn.Module, files: list[Path], labels: list[int], image_size: int,
                 eval_crop_fraction: float, mean, std, batch_size: int = 100,
                 progress: bool = True) -> float:
    """Top-1 accuracy of ``model`` on image files by :func:`protocol_input` (main classifier, §5)."""
    if not files:
        raise ValueError("no validation photos to measure the model on")
    model.eval()
    correct = 0
    with tqdm(total=len(files), desc="val top-1", unit="photo", disable=not progress) as bar:
        for start in range(0, len(files), batch_size):
            chunk = files[start:start + batch_size]
            x = torch.stack([protocol_input(read_uint8(f), image_size, eval_crop_fraction, mean, std) for f in chunk])
            target = torch.tensor(labels[start:start + batch_size])
            correct += int((model(x).argmax(1) == target).sum())
            bar.update(len(chunk))
    return correct / len(files)


def validation_files(folder: Path, classes: list[str]) -> tuple[list[Path], list[int]]:
    """Every photo under ``folder/val``, labelled by the position of its WordNet id in ``classes``."""
    files, labels = [], []
    val = Path(folder) / "val"
    for k, wnid in enumerate(classes):
        d = val / wnid
        if not d.is_dir():
            raise FileNotFoundError(f"{d} does not exist: the validation folder must hold one folder per class "
                                    f"({', '.join(classes)})")
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in (".jpeg", ".jpg", ".png"):
                files.append(f)
                labels.append(k)
    return files, labels


def _train_command(run_dir: Path, state: dict) -> str:
    """The ``python -m utils train`` command that reproduces the run, rebuilt from its checkpoint."""
    config, dataset = state["config"], str(state["dataset"])
    try:
        shown = run_dir.resolve().relative_to(ROOT)
    except ValueError:
        shown = run_dir
    parts = ["python -m utils train", f"--dataset {dataset}", f"--variant {state['variant']}", f"--out {shown}"]
    if state.get("start_from"):
        parts.append(f"--start-from {state['start_from']['path']}")
    recipe = asdict(recipe_for(dataset))
    flags = {"epochs": "--epochs", "image_size": "--image-size", "seed": "--seed", "batch_size": "--batch-size",
             "lr": "--lr", "lr_decay_every_epochs": "--decay-every"}
    parts += [f"{flag} {config[k]}" for k, flag in flags.items() if k in config and config[k] != recipe.get(k)]
    history = state.get("history") or []
    polyak_epochs = sum(1 for row in history if row.get("val_acc_polyak") is not None)
    if config.get("polyak") and history and 0 < polyak_epochs < len(history):
        parts.append(f"--polyak-eval-last {polyak_epochs}")
    return " ".join(parts)


def shipped_origin(log: dict) -> dict | None:
    """The shipped model a run chain started from (``train --start-from FILE.pt`` with its manifest), as
    :func:`utils.training.loop.load_start` recorded it: its sha256, command, history and stages; else None."""
    if not log["stages"]:
        return None
    origin = (checkpoint_of(log["stages"][0]["folder"]) or {}).get("start_from") or {}
    return {**origin["shipped"], "path": origin.get("path")} if origin.get("shipped") else None


def _after_shipped(prior: dict, history: list[dict], stage_rows: list[dict],
                   command: str | None) -> tuple[list[dict], list[dict], str | None]:
    """History, stages and command of a run chain placed after those of the shipped model it started from:
    epochs, seconds and stage numbers continue the shipped manifest's."""
    before = list(prior.get("history") or [])
    before_stages = list(prior.get("stages") or [])
    k0 = max(len(before_stages), 1)
    e0 = before[-1].get("epoch") or 0.0 if before else 0.0
    s0 = before[-1].get("seconds") or 0.0 if before else 0.0
    shifted = [{**row, "stage": row.get("stage", 0) + k0,
                **{key: row[key] + off for key, off in (("epoch", e0), ("seconds", s0)) if row.get(key) is not None}}
               for row in history]
    rows = [{**row, "stage": row.get("stage", 0)} for row in before] + shifted
    start = f"{prior.get('path')} (sha256 {str(prior.get('sha256'))[:16]}..., the model shipped before this stage)"
    stages = before_stages + [{**st, "first_epoch": st["first_epoch"] + e0, "start_from": start}
                              for st in stage_rows]
    if command is not None and prior.get("command"):
        command = f"{prior['command']} && {command}"
    return rows, stages, command


def check_out(out: Path, run_dir: Path, overwrite: bool = False) -> None:
    """Refuse an ``out`` (or its manifest) that is a folder, lies in a run's folder (``final.pt`` there is
    the export's input), or exists while ``overwrite`` is not set; the shipped model needs it too."""
    if out.suffix != ".pt":
        raise ValueError(f"--out {out} must end in .pt (the manifest is written beside it as .json)")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"folder {out.parent} for --out does not exist; create it first")
    if out.parent.resolve() == run_dir.resolve() or holds_run(out.parent):
        raise ValueError(f"--out {out} is inside a training run's folder ({out.parent}), whose files (final.pt, "
                         "last.pt) are never written over; pass --out elsewhere, e.g. runs/NAME.pt")
    for path in (out, manifest_path(out)):
        if path.is_dir():
            raise ValueError(f"{path} is a folder; pass --out FILE.pt whose .json does not name a folder")
        if path.exists() and not overwrite:
            shipped = out.resolve() == SHIPPED.resolve()
            what = ("the shipped model (the default --out); to ship this run in its place, pass --overwrite"
                    if shipped else "a file this export would replace; pass --overwrite to replace it")
            raise ValueError(f"{path} already exists: {what}, or choose another --out")


def export_model(run_dir: str | os.PathLike, out: str | os.PathLike = SHIPPED, data: str | os.PathLike | None = None,
                 command: str | None = None, progress: bool = True, weights: str = "polyak",
                 image_size: int | None = None, selected_on: str | None = None, overwrite: bool = False) -> dict:
    """Ship the network of ``run_dir/final.pt``: fp16 weights at ``out``, a manifest beside.

    ``weights="polyak"`` ships the Polyak average (§6's final model); ``"raw"`` the last SGD weights,
    for a run whose schedule already anneals to 0 so that the average, which still remembers the
    weights of earlier, larger steps, validates lower (the manifest records which, and both
    accuracies of the run's last evaluation).

    ``image_size`` is the input size the manifest's protocol evaluates at (default: the training
    size). Training on random crops of 35-100% of a photo shows objects larger than a centre crop of
    the same size does; testing at a larger size makes up for it ("FixRes", Touvron et al. 2019).
    The manifest keeps the training size as ``train_image_size``. A size other than the training size
    needs ``selected_on``, which says how it was chosen without the validation photos (for instance on
    photos held out from training); a size picked by scoring the validation photos would make
    ``val_top1`` a tuned number. The manifest records it as ``image_size_selected_on``.

    ``val_top1`` is measured on every validation photo (found by :func:`utils.training.imagenette.locate`, or
    ``data``) with the weights read back from ``out``, so it is the number of the file, not of the
    float32 network in memory.

    ``out`` and its manifest are never written inside a run's folder, and replace existing files
    (the shipped model included) only with ``overwrite``.

    Returns:
        The manifest (also written to ``out`` with the suffix ``.json``).

    Raises:
        FileNotFoundError: no ``run_dir``, no ``final.pt`` in it (the run has not finished), or no photos.
        ValueError: ``out`` is not a ``.pt`` file, is in a run's folder or exists without ``overwrite``, or the
            weights do not fit :data:`MAX_BYTES`.
    """
    run_dir, out = Path(run_dir), Path(out)
    final = _finished_run(run_dir)
    check_out(out, run_dir, overwrite)
    folder = locate(data)  # before any work: a missing data set fails at once
    state = load_checkpoint(final)
    kept = _weights_to_ship(state, weights)
    protocol = _protocol(state, image_size, selected_on)
    files, labels = validation_files(folder, [str(c) for c in state["classes"]])
    lineage = _lineage(run_dir, state, command)
    # The file is written beside ``out`` under a temporary name, measured as read back from disk,
    # and only then renamed: ``out`` never holds weights that its manifest does not describe.
    tmp, man_tmp = temporary_beside(out), temporary_beside(manifest_path(out))
    try:
        manifest = {
            **_write_weights(kept, tmp, out),
            **_model_fields(state, kept),
            **protocol,
            **_score(state, tmp, files, labels, protocol, progress),
            "dataset": str(state["dataset"]),
            "weights": ("Polyak-averaged (§6), from final.pt" if weights == "polyak" else
                        "raw SGD weights at the end of the run, from final.pt (not the Polyak average)"),
            **lineage,
        }
        text = WeightsInfo.from_json(manifest).to_json()  # the manifest is the weights' description
        _replace_pair(out, tmp, man_tmp, text)
    finally:
        tmp.unlink(missing_ok=True)
        man_tmp.unlink(missing_ok=True)
    return json.loads(text)  # exactly what a reader of the file gets (tuples become lists)


def _finished_run(run_dir: Path) -> Path:
    """The run's ``final.pt``; a clear error when the folder or the file is missing."""
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist; check the path (a run's folder holds its "
                                "final.pt, e.g. runs/imagenette_paper_seed0)")
    final = run_dir / "final.pt"
    if not final.is_file():
        raise FileNotFoundError(f"no {final}: the run has not finished (only final.pt holds the finished "
                                "Polyak average); let it finish or resume it with `python -m utils train "
                                f"--resume --out {run_dir}`")
    return final


def _weights_to_ship(state: dict, weights: str) -> dict[str, torch.Tensor]:
    """The Polyak average or the raw weights in fp16, without the auxiliary heads when they do not fit."""
    if weights not in ("polyak", "raw"):
        raise ValueError(f"weights must be 'polyak' or 'raw', got {weights!r}")
    kept = to_fp16(averaged_weights(state) if weights == "polyak" else dict(state["model"]))
    if _bytes_of(kept) > MAX_BYTES - (1 << 20):  # 1 MiB for torch.save's own bytes
        # §5: "at inference time, these auxiliary networks are discarded"
        kept = {k: v for k, v in kept.items() if not k.startswith(AUX_PREFIXES)}
    return kept


def _protocol(state: dict, image_size: int | None, selected_on: str | None) -> dict:
    """The manifest's evaluation protocol: the input size (fixed before any photo is scored, and how it was
    chosen), the normalisation and the crop, and the whole recipe in words."""
    train_size = int(state["image_size"])
    image_size = int(image_size or train_size)
    if image_size < min_input_size():
        raise ValueError(f"image_size {image_size} is below GoogLeNet's minimum of {min_input_size()}")
    if image_size == train_size:
        selected_on = selected_on or "the training image size, fixed before any validation photo was scored"
    elif not selected_on:
        raise ValueError(f"--image-size {image_size} differs from the training size {train_size}: say how it was "
                         "chosen with --selected-on (for example 'photos held out from training'). A size chosen "
                         "by scoring the validation photos would make val_top1 a tuned number, not a result")
    fraction = float(dict(state["config"]).get("eval_crop_fraction", 0.875))
    return {
        "image_size": image_size,
        "train_image_size": train_size,
        "image_size_selected_on": selected_on,
        "mean": [float(m) for m in state["mean"]],
        "std": [float(s) for s in state["std"]],
        "eval_crop_fraction": fraction,
        "eval_protocol": (f"shorter side resized to round(image_size / eval_crop_fraction) = "
                          f"{round(image_size / fraction)} px (bilinear, antialiased), centre {image_size}x"
                          f"{image_size} crop, (x / 255 - mean) / std, argmax over classes"),
    }


def _lineage(run_dir: Path, state: dict, command: str | None) -> dict:
    """How the weights were trained: the command, the recipe, the history of every stage of a warm-restarted
    run (after those of the shipped model it started from) and the training time."""
    config = dict(state["config"])
    history = state.get("history") or []
    log = run_log(run_dir)  # a warm restart's log continues the run it started from
    prior = shipped_origin(log)
    stages = log["stages"] if len(log["stages"]) > 1 or prior else []
    stage_rows = [{"run": st["folder"].name, "first_epoch": st["first_epoch"],
                   "epochs": (st["config"] or {}).get("epochs"), "lr": (st["config"] or {}).get("lr"),
                   "seed": (st["config"] or {}).get("seed"), "recipe": st["config"]} for st in stages]
    given = command  # the user's own command is recorded as given, never prefixed
    if stages:
        history = log["epochs"]
        commands = [_train_command(st["folder"], checkpoint_of(st["folder"]) or {}) for st in stages[:-1]]
        command = command or " && ".join([*commands, _train_command(run_dir, state)])
    if prior:
        history, stage_rows, rebuilt = _after_shipped(prior, history, stage_rows, command)
        command = given or rebuilt
    return {
        "command": command or _train_command(run_dir, state),
        "recipe": config,
        "history": [{"epoch": row.get("epoch"), "val_acc": row.get("val_acc"),
                     "val_acc_polyak": row.get("val_acc_polyak"), "seconds": row.get("seconds"),
                     **({"stage": row["stage"]} if stages else {})} for row in history],
        **({"stages": stage_rows} if stage_rows else {}),
        "training_seconds": history[-1].get("seconds") if history else None,
    }


def _write_weights(weights: dict[str, torch.Tensor], tmp: Path, out: Path) -> dict:
    """Save ``weights`` to ``tmp`` (errors name ``out``) within :data:`MAX_BYTES`; the manifest's file fields."""
    save_atomically(weights, out, temporary=tmp, replace=False)  # renamed with its manifest (_replace_pair)
    size = tmp.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"the fp16 weights take {size / 2**20:.1f} MiB, over the {MAX_BYTES / 2**20:.0f} "
                         "MiB budget of a shipped file")
    return {
        "file": out.name,
        "sha256": file_digest(tmp),
        "bytes": size,
        "format": ("torch.save of a state dict, floating tensors in fp16; "
                   "load with utils.network.shipped.load_shipped()"),
    }


def _model_fields(state: dict, weights: dict[str, torch.Tensor]) -> dict:
    """The network the file holds: variant, classes (WordNet ids and names) and whether it has aux heads."""
    classes = [str(c) for c in state["classes"]]
    names = dict(zip(WNIDS, NAMES, strict=True))
    return {
        "variant": str(state["variant"]),
        "num_classes": len(classes),
        "classes": classes,
        "names": [names.get(c, c) for c in classes],
        "aux_logits": any(k.startswith(AUX_PREFIXES) for k in weights),
    }


def _score(state: dict, tmp: Path, files: list[Path], labels: list[int], protocol: dict, progress: bool) -> dict:
    """Top-1 of the weights as read back from ``tmp``, by the manifest's protocol, on every validation photo."""
    weights = torch.load(tmp, map_location="cpu", weights_only=True)
    model = build(str(state["variant"]), len(state["classes"]), weights)
    top1 = measure_top1(model, files, labels, protocol["image_size"], protocol["eval_crop_fraction"],
                        protocol["mean"], protocol["std"], progress=progress)
    return {"val_top1": top1, "val_images": len(files), "val_correct": round(top1 * len(files))}


def _replace_pair(out: Path, tmp: Path, man_tmp: Path, text: str) -> None:
    """Write the manifest beside the weights, then put both in place: the old pair is replaced only when both
    new files are written."""
    write_text_atomically(manifest_path(out), text, temporary=man_tmp, replace=False)
    os.replace(tmp, out)
    os.replace(man_tmp, manifest_path(out))


# ----------------------------------------------------------------------------- command line
def _export_cli(args: argparse.Namespace) -> int:
    out = args.out or SHIPPED
    m = export_model(args.run_dir, out, data=args.data, command=args.command, progress=not args.quiet,
                     weights=args.weights, image_size=args.image_size, selected_on=args.selected_on,
                     overwrite=args.overwrite)
    print(f"wrote {out} ({m['bytes'] / 2**20:.1f} MiB, {m['variant']} variant, "
          f"{'with' if m['aux_logits'] else 'without'} aux heads) and {manifest_path(out).name}: "
          f"val top-1 {m['val_top1']:.2%} on {m['val_images']} photos at {m['image_size']} px")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("export-model", help="ship a finished run's Polyak-averaged network as fp16 weights "
                              "and a JSON manifest (val top-1 measured on the written file)")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a training run's folder, holding final.pt")
    p.add_argument("--out", default=None,
                   help="weights file to write (default assets/googlenet_imagenette.pt; the manifest goes "
                        "beside it as .json)")
    p.add_argument("--data", default=None, help="Imagenette's folder (default: as `train --dataset imagenette`)")
    p.add_argument("--command", default=None, help="the training command to record (default: rebuilt from "
                                                   "the checkpoint)")
    p.add_argument("--weights", choices=("polyak", "raw"), default="polyak",
                   help="ship the Polyak average (§6, default) or the last raw weights")
    p.add_argument("--image-size", type=int_in(32, 4096), default=None,
                   help="the input size the manifest evaluates at (default: the training size; a larger one "
                        "makes up for training on random crops)")
    p.add_argument("--selected-on", default=None, metavar="HOW",
                   help="how an --image-size other than the training size was chosen, without the validation "
                        "photos (recorded in the manifest as image_size_selected_on)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out and its manifest if they exist (needed to re-ship the default, the "
                        "shipped model itself)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_export_cli)
