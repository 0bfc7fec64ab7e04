"""Training GoogLeNet with the §6 recipe: one plain loop, read top to bottom.

SGD with momentum 0.9, the total loss of §5 (main + 0.3 x each auxiliary loss), a linear warm-up
then the 4%-per-step decay of §6, and Polyak-averaged weights evaluated beside the raw ones. The
same code runs in one process or under ``torchrun --nproc_per_node=N`` with DDP. Checkpoints
(:mod:`utils.training.checkpoint`) hold the state between two steps, so ``resume`` continues a run exactly
after Ctrl-C or a kill; the run folder's lock and rules are :mod:`utils.training.runs`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from ..files import write_atomically
from ..network.model import GoogLeNetOutputs, googlenet
from ..paths import RUNS
from .checkpoint import (
    checkpoint_config,
    cut_log,
    load_checkpoint,
    load_training_checkpoint,
    remove_temporaries,
    rng_state,
    save_checkpoint,
    set_rng_state,
    write_lines_atomically,
)
from .data import DataBundle, load_dataset
from .recipe import TrainConfig
from .runs import (
    RunLock,
    check_run_folder,
    default_run_name,
    holds_run,
    move_aside,
    run_files_state,
    snapshot_path,
)


class NonFiniteLoss(FloatingPointError, ValueError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


# ----------------------------------------------------------------------------------------------
# model, loss, schedule


def build_model(variant: str, num_classes: int, config: TrainConfig) -> nn.Module:
    """GoogLeNet for training from scratch, with the initialisation the config names.

    ``init="model"`` keeps the Kaiming fan-in weights :func:`utils.network.model.init_weights` draws: each
    ReLU layer keeps the variance of its input, so the part of the signal that differs from image
    to image survives the 22 layers of the BN-free paper variant. ``init="caffe"`` is BVLC
    GoogLeNet's train_val.prototxt (:func:`caffe_init`). ``transform_input`` is off: the data module
    normalises with the dataset's statistics.
    """
    model = googlenet(variant, num_classes=num_classes, aux_logits=True, transform_input=False)
    if config.init == "caffe":
        caffe_init(model)
    return model.to(memory_format=torch.channels_last)  # faster convolutions on CPU


def checkpoint_model(state: dict, weights: str = "averaged") -> nn.Module:
    """The network a training checkpoint holds, in eval mode, with its auxiliary heads.

    Args:
        state: a checkpoint as :func:`utils.training.checkpoint.load_checkpoint` returns it.
        weights: ``"averaged"``, the Polyak average (§6: the model used at inference), or ``"model"``, the
            raw SGD weights.
    """
    if weights not in ("averaged", "model"):
        raise ValueError(f"weights must be 'averaged' or 'model', got {weights!r}")
    # the recipe's initialisation does not matter: every weight is then loaded
    model = googlenet(state["variant"], num_classes=len(state["classes"]), aux_logits=True, transform_input=False)
    weights_of = state[weights]
    if weights == "averaged":  # torch.optim.swa_utils.AveragedModel's keys
        weights_of = {k.removeprefix("module."): v for k, v in weights_of.items() if k != "n_averaged"}
    model.load_state_dict(weights_of)
    return model.to(memory_format=torch.channels_last).eval()  # as build_model: faster convolutions on CPU


@torch.no_grad()
def caffe_init(model: nn.Module) -> None:
    """BVLC GoogLeNet's initialisation (models/bvlc_googlenet/train_val.prototxt), as Caffe draws it.

    Every convolution and fully connected layer uses Caffe's "xavier" filler, whose default
    variance_norm is FAN_IN: uniform in +-sqrt(3 / fan_in), fan_in = inputs x kernel area (this is
    not PyTorch's ``xavier_uniform_``, which averages fan-in and fan-out). Biases: 0.2 on every
    convolution and on the auxiliary heads' fc layers (loss1/fc, loss2/fc), 0 on the three
    classifiers (loss1/classifier, loss2/classifier, loss3/classifier). Batch norm (torchvision
    variant) keeps its identity start and its convolutions have no bias.
    """
    classifiers = {m for name, m in model.named_modules() if name in ("fc", "aux1.fc2", "aux2.fc2")}
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            bound = math.sqrt(3.0 / (m.weight[0].numel()))  # fan_in: all weights feeding one output
            nn.init.uniform_(m.weight, -bound, bound)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0.0 if m in classifiers else 0.2)


SIGNAL_LAYERS = ("conv1", "conv3", "inception3a", "inception4a", "inception4e", "inception5b")


@torch.no_grad()
def signal_at_init(model: nn.Module, images: torch.Tensor, names=SIGNAL_LAYERS) -> list[dict]:
    """How much of each layer's output depends on the image: one forward pass, before any training.

    For each named layer: ``rms`` (root mean square of the activations) and ``image_spread``, the
    standard deviation across the images of the batch divided by that rms. A network whose deep
    layers have an image_spread near 0 gives nearly the same output for every image, so its
    gradient carries almost no information about the class: training stalls.
    """
    from ..network.hooks import record_activations

    was_training = model.training
    model.eval()
    with record_activations(model, names) as acts:
        model(images.contiguous(memory_format=torch.channels_last))
    model.train(was_training)
    rows = []
    for name in names:
        a = acts[name].flatten(1)
        rms = a.pow(2).mean().sqrt().item()
        rows.append({"layer": name, "rms": rms, "image_spread": a.std(0).mean().item() / max(rms, 1e-12)})
    return rows


def total_loss(out: GoogLeNetOutputs | torch.Tensor, target: torch.Tensor, aux_weight: float) -> torch.Tensor:
    """§5: the main loss plus ``aux_weight`` (0.3) times each auxiliary classifier's loss."""
    if not isinstance(out, GoogLeNetOutputs):
        return F.cross_entropy(out, target)
    loss = F.cross_entropy(out.logits, target)
    if aux_weight:
        loss = loss + aux_weight * (F.cross_entropy(out.aux_logits1, target) +
                                    F.cross_entropy(out.aux_logits2, target))
    return loss


def lr_factor(step: int, steps_per_epoch: int, config: TrainConfig) -> float:
    """Multiplier of ``config.lr`` at ``step``: linear warm-up, then x(1 - 4%) every N epochs (§6),
    or with ``schedule="cosine"`` a half cosine from 1 to 0 over the steps after the warm-up."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.schedule == "cosine":
        total = steps_per_epoch * config.epochs
        progress = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    epoch = step / steps_per_epoch
    return (1 - config.lr_decay) ** math.floor(epoch / config.lr_decay_every_epochs)


def polyak(model: nn.Module, config: TrainConfig) -> AveragedModel:
    """The Polyak-averaged copy of §6, as an exponential moving average (see TrainConfig.polyak_decay)."""
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.polyak_decay), use_buffers=True)


def train_step(model, optimizer, scheduler, images, target, aux_weight: float) -> torch.Tensor:
    """One SGD step; returns the loss as a tensor, so the caller decides when to synchronise."""
    out = model(images.contiguous(memory_format=torch.channels_last))
    loss = total_loss(out, target, aux_weight)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss.detach()


@torch.inference_mode()
def evaluate(model: nn.Module, loader, device) -> float:
    """Top-1 accuracy of ``model`` (main classifier only, §5) over ``loader``."""
    was_training = model.training
    model.eval()
    correct = total = 0
    for images, target in loader:
        images = images.to(device).contiguous(memory_format=torch.channels_last)
        correct += (model(images).argmax(1) == target.to(device)).sum()
        total += len(target)
    model.train(was_training)
    return float(correct) / max(total, 1)


# ----------------------------------------------------------------------------------------------
# distributed and interrupts


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world_size, device). Under torchrun: init the process group (nccl on GPU, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")




class StopAfterStep:
    """Ctrl-C (SIGINT) or SIGTERM during training is held until the current step has ended.

    Why defer rather than snapshot: a step changes the weights, the optimizer, the Polyak average
    and several generators; the only moment when all of them agree is between two steps. The loop
    asks :attr:`requested` after each step, saves ``last.pt`` and stops. A second signal stops at
    once without saving (``last.pt`` then keeps the previous state between two steps).
    Signals can only be caught in the main thread; elsewhere the default behaviour stays.
    """

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\ninterrupted: finishing this step and saving last.pt (interrupt again to stop at once)",
              file=sys.stderr, flush=True)

    def __enter__(self) -> StopAfterStep:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def resume_conflicts(state: dict, variant: str | None = None, config: TrainConfig | None = None,
                     data: DataBundle | None = None, world_size: int | None = None) -> list[str]:
    """What the caller asks for that contradicts the checkpoint ``state``, one line per difference."""
    diffs = []
    if variant is not None and variant != state["variant"]:
        diffs.append(f"variant: checkpoint {state['variant']!r}, asked {variant!r}")
    if config is not None:
        saved = checkpoint_config(state)
        diffs += [f"{f.name}: checkpoint {getattr(saved, f.name)!r}, asked {getattr(config, f.name)!r}"
                  for f in fields(TrainConfig) if getattr(saved, f.name) != getattr(config, f.name)]
    if data is not None:
        if data.name != state["dataset"]:
            diffs.append(f"dataset: checkpoint {state['dataset']!r}, asked {data.name!r}")
        if len(data.classes) != len(state["classes"]):
            diffs.append(f"number of classes: checkpoint {len(state['classes'])}, data {len(data.classes)}")
        elif list(data.classes) != list(state["classes"]):
            diffs.append("class names: the data's differ from the checkpoint's")
        if data.image_size != state.get("image_size", data.image_size):
            diffs.append(f"image_size: checkpoint {state['image_size']}, data {data.image_size}")
    saved_world = state.get("world_size", 1)
    if world_size is not None and world_size != saved_world:
        diffs.append(f"processes: checkpoint {saved_world}, now {world_size} (the data position depends on it)")
    return diffs


def train(config: TrainConfig | None = None, variant: str | None = None, dataset: str | Path = "mnist",
          out: str | Path | None = None, resume: bool = False, max_steps: int | None = None,
          eval_every: int | None = None, log_every: int = 10, data: DataBundle | None = None,
          progress: bool = True, data_root: str | Path | None = None,
          polyak_eval_last: int | None = None, overwrite: bool = False,
          start_from: str | Path | None = None, keep_snapshots: bool = False) -> dict:
    """Train ``variant`` on ``dataset`` with ``config``; write metrics and checkpoints under ``out``.

    Files in ``out`` (default: a new ``RUNS/DATASET_VARIANT_seedN_YYYYmmdd-HHMMSS``):
    ``metrics.jsonl`` (one line per evaluation: step, epoch, lr, train_loss, val_acc,
    val_acc_polyak, seconds), ``steps.jsonl`` (loss every ``log_every`` steps), ``last.pt`` (each
    epoch, at ``max_steps`` and on Ctrl-C) and ``final.pt`` (at the end).

    A folder that already holds a run is refused unless ``resume`` (continue it exactly: the
    checkpoint's config, variant and data position; the logs are cut back to its step) or
    ``overwrite`` (the old run is moved aside, not deleted). With ``resume``, a ``variant``,
    ``config`` or data that contradicts the checkpoint is refused with the list of differences.

    Args:
        variant: "paper" (the default) or "torchvision".
        eval_every: also evaluate every this many steps (default: once per epoch).
        data: a ready :class:`DataBundle` instead of loading ``dataset``.
        data_root: where Imagenette's photos are (see :func:`utils.training.imagenette.find`).
        polyak_eval_last: evaluate the Polyak average only in the last this many epochs (it costs a
            second pass over the validation set; on photos that is a quarter of an epoch's time).
        start_from: a checkpoint of a finished run (its ``final.pt``) whose weights start this one: a
            warm restart (a new warm-up and schedule from trained weights, as SGDR does), not a
            resume. Its variant and classes must match; the run it came from is recorded.
        keep_snapshots: also keep each epoch's checkpoint as ``OUT_snapshots/snap_NN.pt`` (NN: the
            epoch; :func:`utils.training.runs.snapshot_path`), the members of a snapshot ensemble (§7; notebook 05).

    Returns:
        ``{"history": [metric rows], "out": Path, "final": Path | None, "step": int}``.

    Raises:
        KeyboardInterrupt: after Ctrl-C, once ``last.pt`` holds the state after the current step.
    """
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    if resume and start_from is not None:
        raise ValueError("resume continues a run from its own last.pt; start_from begins a new run from another "
                         "run's weights. Pass one of them")
    if out is None:
        if resume:
            raise ValueError("resume needs out, the folder of the run to continue")
        out = RUNS / default_run_name(str(dataset), variant or "paper", (config or TrainConfig()).seed)
    out = Path(out)
    ckpt_path = out / "last.pt"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    check_run_folder(out, resume, overwrite)  # before anything is loaded or written
    checked = run_files_state(out)  # compared again once the lock is held: the data scan below takes time
    if resume and not ckpt_path.exists() and holds_run(out):
        # killed before its first checkpoint: only logs of steps that will be redone, and maybe a
        # stale last.pt.tmp; continuing means starting at step 0 (both are cleared below)
        print(f"{out} has no checkpoint yet; starting its run from step 0", file=sys.stderr)
        resume = False
    state = load_training_checkpoint(ckpt_path) if resume else None
    if state is not None:
        diffs = resume_conflicts(state, variant, config, world_size=world)
        if diffs:
            raise ValueError(f"--resume of {ckpt_path} contradicts the checkpoint: " + "; ".join(diffs)
                             + ". Drop those options to continue the run as it was, or train into another --out")
        config = checkpoint_config(state)
        variant = state["variant"]
    config = config or TrainConfig()
    warm = load_start(start_from, variant) if start_from is not None else None
    variant = variant or (warm["variant"] if warm is not None else "paper")
    # bad input fails here, before anything is written
    data = data or load_dataset(dataset, config.image_size, config, data_root)
    if warm is not None and list(warm["classes"]) != list(data.classes):
        raise ValueError(f"--start-from {start_from} was trained on the classes {list(warm['classes'])}, the "
                         f"data has {list(data.classes)}; start from a run on the same classes")
    if state is not None:
        diffs = resume_conflicts(state, data=data)
        if diffs:
            raise ValueError(f"--resume of {ckpt_path} contradicts the checkpoint: " + "; ".join(diffs))
    rank, world, device = setup_distributed()

    lock = None
    if rank == 0:
        if overwrite and holds_run(out):
            with RunLock(out):  # nobody trains there: move it aside whole
                pass
            aside = move_aside(out)
            print(f"moved the previous run in {out} to {aside}", file=sys.stderr)
            checked = {}
        lock = RunLock(out).acquire()
        if run_files_state(out) != checked:  # another training wrote there while this one loaded its data
            lock.release()
            raise ValueError(f"{out} changed while this training loaded its data (another run wrote "
                             f"{', '.join(holds_run(out))} there); nothing was written. Pass --resume to continue "
                             "that run, or train into another --out")
    try:
        return _train_locked(config, variant, data, out, state, rank, world, device, max_steps, eval_every,
                             log_every, progress, polyak_eval_last, dataset, data_root, warm, keep_snapshots)
    finally:
        if lock is not None:
            lock.release()


def keep_snapshot(checkpoint: Path, snapshot: Path) -> None:
    """Copy ``checkpoint`` to ``snapshot`` under a temporary name first, so a kill leaves no half file."""
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    with open(checkpoint, "rb") as source:
        write_atomically(snapshot, lambda f: shutil.copyfileobj(source, f),
                         temporary=snapshot.with_name(snapshot.name + ".tmp"))


def load_start(path: str | Path, variant: str | None = None) -> dict:
    """The weights and origin of a finished run's checkpoint, for ``train(start_from=...)``.

    ``path`` may also be a shipped model (a ``.pt`` with its JSON manifest beside it, as
    ``python -m utils export-model`` writes): its weights start the run and its manifest's training
    history is kept as the origin's, so an export of the new run shows every stage. A shipped file
    carries no auxiliary heads (§5 discards them at inference); they start from their initialisation.
    """
    from ..network.shipped import load_shipped, manifest_path

    if manifest_path(path).is_file() and Path(path).suffix == ".pt":
        shipped, meta = load_shipped(path)
        if variant is not None and variant != meta["variant"]:
            raise ValueError(f"--start-from {path} holds the {meta['variant']!r} variant, asked {variant!r}; "
                             "drop --variant or start from a model of that variant")
        origin = {"path": str(path), "variant": meta["variant"], "dataset": meta.get("dataset"),
                  "step": None, "epochs": None, "seconds": meta.get("training_seconds"),
                  "val_acc": (meta.get("history") or [{}])[-1].get("val_acc"), "start_from": None,
                  "shipped": {k: meta.get(k) for k in ("sha256", "command", "history", "stages", "weights")}}
        return {"model": {k: v.float() for k, v in shipped.state_dict().items()}, "variant": meta["variant"],
                "classes": list(meta["classes"]), "origin": origin}
    state = load_checkpoint(path)
    missing = [k for k in ("model", "variant", "classes") if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: --start-from needs a final.pt or last.pt that "
                         "`python -m utils train` wrote")
    if variant is not None and variant != state["variant"]:
        raise ValueError(f"--start-from {path} holds the {state['variant']!r} variant, asked {variant!r}; "
                         "drop --variant or start from a run of that variant")
    history = state.get("history") or []
    origin = {"path": str(path), "variant": state["variant"], "dataset": state.get("dataset"),
              "step": state.get("step"), "epochs": (state.get("config") or {}).get("epochs"),
              "seconds": history[-1]["seconds"] if history else None,
              "val_acc": history[-1]["val_acc"] if history else None,
              "start_from": state.get("start_from")}  # a chain of restarts keeps its whole history
    return {"model": state["model"], "variant": state["variant"], "classes": state["classes"], "origin": origin}


@dataclass
class _Run:
    """One run between two steps: what it trains, where it writes, and how far it has come.

    The loop's functions below take it and advance it; ``epoch``, ``batch_in_epoch`` and ``step`` are
    the position in the data, ``loss_sum`` / ``loss_count`` the training loss since the last evaluation,
    and ``pending`` the losses since the last log line, kept as tensors so that no step waits for a
    ``.item()``. Everything a checkpoint needs to continue exactly is here (:func:`_checkpoint`).
    """

    config: TrainConfig
    variant: str
    data: DataBundle
    out: Path
    rank: int
    world: int
    device: torch.device
    model: nn.Module
    net: nn.Module  # the model, wrapped in DistributedDataParallel under torchrun
    averaged: AveragedModel
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: DistributedSampler
    steps_per_epoch: int
    val_loader: DataLoader
    origin: dict  # what the checkpoint records about the run it came from: dataset, data_root, start_from, ...
    history: list[dict] = field(default_factory=list)
    epoch: int = 0
    batch_in_epoch: int = 0
    step: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    pending: list = field(default_factory=list)
    started: float = 0.0  # perf_counter() at step 0, earlier than now by the time of a resumed run
    polyak_eval_last: int | None = None

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "last.pt"


def _prepare_folder(out: Path, state: dict | None, rank: int) -> None:
    """Clear what a killed run left: temporary files, and log lines past the checkpoint it resumes."""
    if rank != 0:
        return
    remove_temporaries(out)  # under the lock no save is in progress: every *.tmp is a killed save's
    if state is None:
        for f in (out / "metrics.jsonl", out / "steps.jsonl"):
            f.unlink(missing_ok=True)
    else:  # rows written after the checkpoint (a kill before the next save) would repeat
        cut_log(out / "steps.jsonl", state["step"])
        write_lines_atomically(out / "metrics.jsonl", state["history"])


def _set_up(config, variant, data, out, rank, world, device, warm, origin, polyak_eval_last) -> _Run:
    """The network (from ``warm``'s weights if given), its Polyak average, SGD and the schedule at step 0.

    The order of the draws from torch's generator is part of the run: changing it changes every
    resumed run's numbers.
    """
    torch.manual_seed(config.seed + rank)
    model = build_model(variant, len(data.classes), config).to(device)
    if warm is not None:  # before the average is made, so that it starts there too
        missing, unexpected = model.load_state_dict(warm["model"], strict=False)
        not_aux = [k for k in missing if not k.startswith(("aux1.", "aux2."))]
        if not_aux or unexpected:
            raise ValueError(f"--start-from weights do not fit the {variant} network: missing {not_aux[:3]}, "
                             f"unexpected {unexpected[:3]}")
    averaged = polyak(model, config)
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)  # biases and BN scales are not decayed
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)
    sampler = DistributedSampler(data.train, num_replicas=world, rank=rank, shuffle=True, seed=config.seed)
    steps_per_epoch = math.ceil(len(sampler) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, steps_per_epoch, config))
    # its own generator: an iterator over a loader draws a seed, which must not come from the global RNG
    val_loader = DataLoader(data.val, batch_size=256, generator=torch.Generator().manual_seed(0))
    return _Run(config, variant, data, out, rank, world, device, model, model, averaged, optimizer, scheduler,
                sampler, steps_per_epoch, val_loader, origin, polyak_eval_last=polyak_eval_last)


def _restore(run: _Run, state: dict) -> None:
    """Put ``run`` back where the checkpoint ``state`` left it: weights, average, optimizer, schedule,
    position, the loss since the last evaluation and every generator of this process."""
    run.model.load_state_dict(state["model"])
    run.averaged.load_state_dict(state["averaged"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.epoch, run.batch_in_epoch, run.step = state["epoch"], state["batch_in_epoch"], state["step"]
    run.loss_sum, run.loss_count = state["loss_sum"], state["loss_count"]
    run.history = list(state["history"])
    per_rank = state.get("rng_ranks")
    if per_rank and len(per_rank) == run.world:
        set_rng_state(per_rank[run.rank])
    else:  # a checkpoint with torch's CPU generator only
        torch.set_rng_state(state["rng_cpu"])


def _checkpoint(run: _Run, rngs: list[dict]) -> dict:
    """What ``last.pt`` and ``final.pt`` hold: the state between two steps and where the run came from."""
    return {"model": run.model.state_dict(), "averaged": run.averaged.state_dict(),
            "optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
            "epoch": run.epoch, "batch_in_epoch": run.batch_in_epoch, "step": run.step,
            "loss_sum": run.loss_sum, "loss_count": run.loss_count, "rng_cpu": rngs[0]["torch"], "rng_ranks": rngs,
            "world_size": run.world, "config": asdict(run.config), "variant": run.variant, "dataset": run.data.name,
            **run.origin, "polyak_eval_last": run.polyak_eval_last, "classes": list(run.data.classes),
            "image_size": run.config.image_size, "mean": list(run.data.mean), "std": list(run.data.std),
            "history": run.history}


def _train_step(run: _Run, images: torch.Tensor, target: torch.Tensor) -> None:
    """One SGD step, the Polyak average after it, and the loss kept for the next log line."""
    loss = train_step(run.net, run.optimizer, run.scheduler, images.to(run.device), target.to(run.device),
                      run.config.aux_weight)
    run.averaged.update_parameters(run.model)
    run.step += 1
    run.batch_in_epoch += 1
    run.pending.append((run.step, loss))


def _log_losses(run: _Run) -> None:
    """Write the losses since the last log line to ``steps.jsonl``; stop on a NaN or infinite one."""
    if not run.pending:
        return
    values = torch.stack([v for _, v in run.pending]).tolist()
    if not all(math.isfinite(v) for v in values):
        bad = run.pending[next(i for i, v in enumerate(values) if not math.isfinite(v))][0]
        raise NonFiniteLoss(
            f"loss became {values[-1]} at step {bad}; training stopped. The last good checkpoint "
            f"is {run.checkpoint_path} (if any). Lower --lr (now {run.config.lr}) or raise the warm-up.")
    if run.rank == 0:
        with (run.out / "steps.jsonl").open("a") as f:
            for (s, _), v in zip(run.pending, values, strict=True):
                f.write(json.dumps({"step": s, "loss": v}) + "\n")
    run.loss_sum += sum(values)
    run.loss_count += len(values)
    run.pending.clear()


def _evaluate(run: _Run) -> dict | None:
    """Top-1 of the raw and (when due) the averaged weights, logged to ``metrics.jsonl``; the loss sum
    starts again. Returns the row (``None`` on ranks other than 0, which do not evaluate)."""
    _log_losses(run)
    row = None
    if run.rank == 0:
        config, step = run.config, run.step
        polyak_due = config.polyak and (run.polyak_eval_last is None
                                        or step > run.steps_per_epoch * (config.epochs - run.polyak_eval_last))
        row = {"step": step, "epoch": round(step / run.steps_per_epoch, 4),
               "lr": run.optimizer.param_groups[0]["lr"],
               "train_loss": run.loss_sum / max(run.loss_count, 1),
               "val_acc": evaluate(run.model, run.val_loader, run.device),
               "val_acc_polyak": evaluate(run.averaged.module, run.val_loader, run.device) if polyak_due else None,
               "seconds": time.perf_counter() - run.started}
        run.history.append(row)
        with (run.out / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")
    run.loss_sum, run.loss_count = 0.0, 0
    return row


def _save(run: _Run, path: Path) -> None:
    """Write the checkpoint (rank 0) with every rank's generators: each draws its own augmentations."""
    rngs = [rng_state()]
    if run.world > 1:
        rngs = [None] * run.world
        dist.all_gather_object(rngs, rng_state())
    if run.rank == 0:
        save_checkpoint(path, _checkpoint(run, rngs))


def _stop_requested(run: _Run, stop: StopAfterStep) -> bool:
    """Whether a signal asked to stop; under DDP all ranks agree, or one would wait for the others forever."""
    if run.world == 1:
        return stop.requested
    flag = torch.tensor([int(stop.requested)], device=run.device)
    dist.all_reduce(flag)
    return bool(flag.item())


def _train_epoch(run: _Run, stop: StopAfterStep, bar, max_steps: int | None, eval_every: int | None,
                 log_every: int) -> bool:
    """The rest of the current epoch, from ``batch_in_epoch``, or up to ``max_steps``. Returns whether a
    signal asked to stop (the loop then ends after this step)."""
    config = run.config
    run.sampler.set_epoch(run.epoch)
    indices = list(run.sampler)[run.batch_in_epoch * config.batch_size:]
    # its own generator, so that making a loader does not draw from the global RNG (exact resume)
    loader = DataLoader(run.data.train, batch_size=config.batch_size, sampler=indices,
                        generator=torch.Generator().manual_seed(config.seed))
    for images, target in loader:
        _train_step(run, images, target)
        bar.update()
        if run.step % log_every == 0:
            _log_losses(run)
        if eval_every and run.step % eval_every == 0 and run.batch_in_epoch < run.steps_per_epoch:
            _show(bar, _evaluate(run))
        if max_steps is not None and run.step >= max_steps:
            return False
        if _stop_requested(run, stop):
            return True
    return False


def _end_epoch(run: _Run, bar) -> bool:
    """After a pass of :func:`_train_epoch`: evaluate if the epoch ended (and count it), else only write
    the pending losses. Returns whether the epoch ended."""
    ended = run.batch_in_epoch >= run.steps_per_epoch
    if ended:
        run.epoch, run.batch_in_epoch = run.epoch + 1, 0
        _show(bar, _evaluate(run))
    else:
        _log_losses(run)
    return ended


def _show(bar, row: dict | None) -> None:
    if row is not None:
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", acc=f"{row['val_acc']:.3f}")


def _train_locked(config, variant, data, out, state, rank, world, device, max_steps, eval_every, log_every,
                  progress, polyak_eval_last, dataset, data_root, warm=None, keep_snapshots=False) -> dict:
    """The loop itself, under the run folder's lock: restore, then step / evaluate / save each epoch."""
    _prepare_folder(out, state, rank)
    origin = {"dataset_arg": str(dataset), "data_root": None if data_root is None else str(data_root),
              "start_from": warm["origin"] if warm is not None else (state or {}).get("start_from")}
    run = _set_up(config, variant, data, out, rank, world, device, warm if state is None else None, origin,
                  polyak_eval_last)
    if state is not None:
        _restore(run, state)
    if world > 1:
        run.net = nn.parallel.DistributedDataParallel(run.model)
    run.model.train()
    run.started = time.perf_counter() - (run.history[-1]["seconds"] if run.history else 0.0)

    total_steps = run.steps_per_epoch * config.epochs
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)
    bar = tqdm(total=total_steps, initial=run.step, disable=not progress or rank != 0, desc=f"train {variant}")
    with StopAfterStep() as stop:
        try:
            stopping = False
            while run.epoch < config.epochs and (max_steps is None or run.step < max_steps) and not stopping:
                stopping = _train_epoch(run, stop, bar, max_steps, eval_every, log_every)
                ended = _end_epoch(run, bar)
                _save(run, run.checkpoint_path)
                if ended and keep_snapshots and rank == 0:
                    keep_snapshot(run.checkpoint_path, snapshot_path(out, run.epoch))
                stopping = stopping or _stop_requested(run, stop)
            if stopping and run.epoch < config.epochs:
                if rank == 0:
                    print(f"stopped after step {run.step}; {run.checkpoint_path} holds it. Continue with "
                          f"`python -m utils train --resume --out {out}`", file=sys.stderr, flush=True)
                raise KeyboardInterrupt
        finally:
            bar.close()
        final = None
        if run.epoch >= config.epochs:
            final = out / "final.pt"
            _save(run, final)
    if dist.is_initialized():
        dist.barrier()
    return {"history": run.history, "out": out, "final": final, "step": run.step}
