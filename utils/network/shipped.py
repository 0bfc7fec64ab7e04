"""The shipped Imagenette model: the paper variant (§5, Figure 3) trained on photos, as a small file.

:func:`export_model` takes the Polyak-averaged weights (§6: "Polyak averaging was used to create the
final model used at inference") of a training run's ``final.pt`` and writes them as an fp16 state
dict under ``assets/`` with a JSON manifest beside it. The manifest's ``val_top1`` is measured by the
export itself, on the file it has just written, with one fixed protocol (:func:`protocol_input`),
so that anyone can check the number: every validation photo resized (bilinear, antialiased) to
``round(image_size / eval_crop_fraction)`` pixels on its shorter side, the centre ``image_size``
square, normalised by ``mean`` / ``std``, argmax over ``classes``.

:func:`load_shipped` reads the manifest, refuses a file whose SHA-256 differs from it, and returns
the network in eval mode. fp16 halves the file (the 10-class paper variant has 10.3 M parameters,
4.4 M of them in the two auxiliary heads); the auxiliary heads, which §5 discards at inference, are
dropped when the file would otherwise exceed :data:`MAX_BYTES`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ..cli_checks import int_in
from ..paths import ASSETS, ROOT
from ..training.runs import checkpoint_of, run_log

SHIPPED = ASSETS / "googlenet_imagenette.pt"
MAX_BYTES = 16 * 1024 * 1024  # the budget for a file kept in the repository
AUX_PREFIXES = ("aux1.", "aux2.")


# ----------------------------------------------------------------------------- small helpers
def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    """``text`` into a temporary file beside ``path``, then os.replace: never a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def manifest_path(path: str | os.PathLike) -> Path:
    """The JSON manifest beside a shipped ``.pt`` file (same name, ``.json``)."""
    return Path(path).with_suffix(".json")


def averaged_weights(state: dict) -> dict[str, torch.Tensor]:
    """The Polyak-averaged network of a training checkpoint (utils.training.train's ``final.pt``) as a plain
    state dict: ``AveragedModel``'s ``module.`` prefix removed, its ``n_averaged`` counter dropped."""
    if "averaged" not in state:
        raise ValueError("the checkpoint holds no Polyak-averaged weights ('averaged'); it was trained with "
                         "polyak=False, so there is no §6 final model to ship")
    return {k.removeprefix("module."): v for k, v in state["averaged"].items() if k.startswith("module.")}


def to_fp16(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors as fp16, contiguous (integer buffers such as BN's counter stay as they are)."""
    return {k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous().clone()
            for k, v in weights.items()}


def _bytes_of(weights: dict[str, torch.Tensor]) -> int:
    return sum(v.numel() * v.element_size() for v in weights.values())


def build(variant: str, num_classes: int, weights: dict[str, torch.Tensor]) -> nn.Module:
    """The network for a shipped state dict, in float32 and eval mode (aux heads only if it has them)."""
    from .model import googlenet
    from .weights import load_into

    aux = any(k.startswith(AUX_PREFIXES) for k in weights)
    model = googlenet(variant, num_classes=num_classes, aux_logits=aux, transform_input=False)
    load_into(model, {k: v.float() if v.is_floating_point() else v for k, v in weights.items()}, "shipped model")
    return model.eval()


# ----------------------------------------------------------------------------- the evaluation protocol
def protocol_input(image: torch.Tensor, image_size: int, eval_crop_fraction: float, mean, std) -> torch.Tensor:
    """One photo as the shipped model's input, by the manifest's protocol.

    Args:
        image: (3, H, W) uint8 RGB.

    Returns:
        (3, image_size, image_size) float32: shorter side resized to ``round(image_size /
        eval_crop_fraction)`` (bilinear, antialiased, back to uint8 as an image file would hold it),
        the centre square cropped (torchvision's ``center_crop``), then ``(x / 255 - mean) / std``.
    """
    from torchvision.transforms.v2 import functional as TF

    resize = round(image_size / eval_crop_fraction)
    img = TF.resize(image, [resize], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    img = TF.center_crop(img, [image_size, image_size])
    x = img.float() / 255
    return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


def _read_rgb(path: Path) -> torch.Tensor:
    from torchvision.io import ImageReadMode, decode_image, read_file

    try:
        return decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
    except Exception as exc:  # every photo counts in val_top1: a damaged one is an error, not a skip
        raise ValueError(f"cannot decode {path} ({type(exc).__name__}); replace the file or fetch the data "
                         "set again") from exc


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
            x = torch.stack([protocol_input(_read_rgb(f), image_size, eval_crop_fraction, mean, std) for f in chunk])
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


# ----------------------------------------------------------------------------- export
def _train_command(run_dir: Path, state: dict) -> str:
    """The ``python -m utils train`` command that reproduces the run, rebuilt from its checkpoint."""
    from ..training.recipe import recipe_for

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


def export_model(run_dir: str | os.PathLike, out: str | os.PathLike = SHIPPED, data: str | os.PathLike | None = None,
                 command: str | None = None, progress: bool = True, weights: str = "polyak",
                 image_size: int | None = None) -> dict:
    """Ship the network of ``run_dir/final.pt``: fp16 weights at ``out``, a manifest beside.

    ``weights="polyak"`` ships the Polyak average (§6's final model); ``"raw"`` the last SGD weights,
    for a run whose schedule already anneals to 0 so that the average, which still remembers the
    weights of earlier, larger steps, validates lower (the manifest records which, and both
    accuracies of the run's last evaluation).

    ``image_size`` is the input size the manifest's protocol evaluates at (default: the training
    size). Training on random crops of 35-100% of a photo shows objects larger than a centre crop of
    the same size does; testing at a larger size makes up for it ("FixRes", Touvron et al. 2019).
    The manifest keeps the training size as ``train_image_size``.

    ``val_top1`` is measured on every validation photo (found by :func:`utils.training.imagenette.locate`, or
    ``data``) with the weights read back from ``out``, so it is the number of the file, not of the
    float32 network in memory.

    Returns:
        The manifest (also written to ``out`` with the suffix ``.json``).

    Raises:
        FileNotFoundError: no ``final.pt`` in ``run_dir`` (the run has not finished), or no photos.
        ValueError: ``out`` is not a ``.pt`` file, or the weights do not fit :data:`MAX_BYTES`.
    """
    from ..training.imagenette import NAMES, WNIDS, locate
    from ..training.train import load_checkpoint

    run_dir, out = Path(run_dir), Path(out)
    if out.suffix != ".pt":
        raise ValueError(f"--out {out} must end in .pt (the manifest is written beside it as .json)")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"folder {out.parent} for --out does not exist; create it first")
    final = run_dir / "final.pt"
    if not final.is_file():
        raise FileNotFoundError(f"no {final}: the run has not finished (only final.pt holds the finished "
                                "Polyak average); let it finish or resume it with `python -m utils train "
                                f"--resume --out {run_dir}`")
    folder = locate(data)  # before any work: a missing data set fails at once
    state = load_checkpoint(final)
    if weights not in ("polyak", "raw"):
        raise ValueError(f"weights must be 'polyak' or 'raw', got {weights!r}")
    which = weights
    weights = to_fp16(averaged_weights(state) if which == "polyak" else dict(state["model"]))
    if _bytes_of(weights) > MAX_BYTES - (1 << 20):  # 1 MiB for torch.save's own bytes
        # §5: "at inference time, these auxiliary networks are discarded"
        weights = {k: v for k, v in weights.items() if not k.startswith(AUX_PREFIXES)}

    classes = [str(c) for c in state["classes"]]
    config = dict(state["config"])
    train_size = int(state["image_size"])
    image_size = int(image_size or train_size)
    if image_size < 32:
        raise ValueError(f"image_size {image_size} is below GoogLeNet's minimum of 32")
    mean, std = [float(m) for m in state["mean"]], [float(s) for s in state["std"]]
    fraction = float(config.get("eval_crop_fraction", 0.875))
    files, labels = validation_files(folder, classes)
    # The file is written beside ``out`` under a temporary name, measured as read back from disk,
    # and only then renamed: ``out`` never holds weights that its manifest does not describe.
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        torch.save(weights, tmp)
        size = tmp.stat().st_size
        if size > MAX_BYTES:
            raise ValueError(f"the fp16 weights take {size / 2**20:.1f} MiB, over the {MAX_BYTES / 2**20:.0f} "
                             "MiB budget of a shipped file")
        model = build(str(state["variant"]), len(classes), torch.load(tmp, map_location="cpu", weights_only=True))
        top1 = measure_top1(model, files, labels, image_size, fraction, mean, std, progress=progress)
        digest = sha256(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)

    names = dict(zip(WNIDS, NAMES, strict=True))
    history = state.get("history") or []
    log = run_log(run_dir)  # a warm restart's log continues the run it started from
    stages = log["stages"] if len(log["stages"]) > 1 else []
    if stages:
        history = log["epochs"]
        commands = [_train_command(st["folder"], checkpoint_of(st["folder"]) or {}) for st in stages[:-1]]
        command = command or " && ".join([*commands, _train_command(run_dir, state)])
    manifest = {
        "file": out.name,
        "sha256": digest,
        "bytes": size,
        "format": ("torch.save of a state dict, floating tensors in fp16; "
                   "load with utils.network.shipped.load_shipped()"),
        "variant": str(state["variant"]),
        "num_classes": len(classes),
        "classes": classes,
        "names": [names.get(c, c) for c in classes],
        "aux_logits": any(k.startswith(AUX_PREFIXES) for k in weights),
        "image_size": image_size,
        "train_image_size": train_size,
        "mean": mean,
        "std": std,
        "eval_crop_fraction": fraction,
        "eval_protocol": (f"shorter side resized to round(image_size / eval_crop_fraction) = "
                          f"{round(image_size / fraction)} px (bilinear, antialiased), centre {image_size}x"
                          f"{image_size} crop, (x / 255 - mean) / std, argmax over classes"),
        "val_top1": top1,
        "val_images": len(files),
        "val_correct": round(top1 * len(files)),
        "dataset": str(state["dataset"]),
        "weights": ("Polyak-averaged (§6), from final.pt" if which == "polyak" else
                    "raw SGD weights at the end of the run, from final.pt (not the Polyak average)"),
        "command": command or _train_command(run_dir, state),
        "recipe": config,
        "history": [{"epoch": row.get("epoch"), "val_acc": row.get("val_acc"),
                     "val_acc_polyak": row.get("val_acc_polyak"), "seconds": row.get("seconds"),
                     **({"stage": row["stage"]} if stages else {})} for row in history],
        **({"stages": [{"run": st["folder"].name, "first_epoch": st["first_epoch"],
                        "epochs": (st["config"] or {}).get("epochs"), "lr": (st["config"] or {}).get("lr"),
                        "seed": (st["config"] or {}).get("seed"), "recipe": st["config"]}
                       for st in stages]} if stages else {}),
        "training_seconds": history[-1].get("seconds") if history else None,
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    _write_atomically(manifest_path(out), text)
    return json.loads(text)  # exactly what a reader of the file gets (tuples become lists)


# ----------------------------------------------------------------------------- load
def load_shipped(path: str | os.PathLike | None = None) -> tuple[nn.Module, dict]:
    """The shipped network in eval mode (float32) and its manifest, after checking the file's SHA-256.

    Args:
        path: the ``.pt`` file (default ``assets/googlenet_imagenette.pt``); its manifest is the
            ``.json`` beside it.

    Returns:
        ``(model, meta)``: ``meta`` is the manifest with ``mean``/``std`` as tuples and ``path`` added.

    Raises:
        FileNotFoundError: the file or its manifest is missing (the message says how to get them).
        ValueError: the file's SHA-256 differs from the manifest's (a damaged or replaced file).
    """
    path = Path(path) if path is not None else SHIPPED
    man = manifest_path(path)
    how = (f"it comes with the repository (restore it with `git checkout -- {path.name} {man.name}` in "
           f"{path.parent}), or export a finished training run with `python -m utils export-model RUN_DIR "
           f"--out {path}`")
    for f in (path, man):
        if not f.is_file():
            raise FileNotFoundError(f"no shipped model file {f}; {how}")
    meta = json.loads(man.read_text(encoding="utf-8"))
    got = sha256(path)
    if got != meta.get("sha256"):
        raise ValueError(f"{path} has SHA-256 {got[:16]}..., but its manifest {man.name} expects "
                         f"{str(meta.get('sha256'))[:16]}...: the file is damaged or not the one the manifest "
                         f"describes; {how}")
    weights = torch.load(path, map_location="cpu", weights_only=True)
    model = build(meta["variant"], int(meta["num_classes"]), weights)
    meta = {**meta, "mean": tuple(meta["mean"]), "std": tuple(meta["std"]), "path": path}
    return model, meta


# ----------------------------------------------------------------------------- command line
def _export_cli(args: argparse.Namespace) -> int:
    out = args.out or SHIPPED
    m = export_model(args.run_dir, out, data=args.data, command=args.command, progress=not args.quiet,
                     weights=args.weights, image_size=args.image_size)
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
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_export_cli)
