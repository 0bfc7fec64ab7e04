"""Training GoogLeNet with the §6 recipe: one plain loop, read top to bottom.

SGD with momentum 0.9, the total loss of §5 (main + 0.3 x each auxiliary loss), a linear warm-up
then the 4%-per-step decay of §6, and Polyak-averaged weights evaluated beside the raw ones. The
same code runs in one process or under ``torchrun --nproc_per_node=N`` with DDP. Checkpoints are
plain tensors and primitives, written atomically, loadable with ``torch.load(weights_only=True)``,
and ``resume`` continues a run exactly.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from .data import DataBundle, load_dataset
from .model import GoogLeNetOutputs, googlenet
from .paths import RUNS, quick_mode
from .recipe import TrainConfig, mnist_recipe, recipe_for


class NonFiniteLoss(FloatingPointError, ValueError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


# ----------------------------------------------------------------------------------------------
# model, loss, schedule


def build_model(variant: str, num_classes: int, config: TrainConfig) -> nn.Module:
    """GoogLeNet for training from scratch, with the initialisation the config names.

    ``init="model"`` keeps the Kaiming fan-in weights :func:`utils.model.init_weights` draws: each
    ReLU layer keeps the variance of its input, so the part of the signal that differs from image
    to image survives the 22 layers of the BN-free paper variant. ``init="caffe"`` is BVLC
    GoogLeNet's train_val.prototxt (:func:`caffe_init`). ``transform_input`` is off: the data module
    normalises with the dataset's statistics.
    """
    model = googlenet(variant, num_classes=num_classes, aux_logits=True, transform_input=False)
    if config.init == "caffe":
        caffe_init(model)
    return model.to(memory_format=torch.channels_last)  # faster convolutions on CPU


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
    from .hooks import record_activations

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
# checkpoints


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder, then os.replace."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint with ``weights_only=True`` (no pickled code runs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train first with "
                                f"`python -m utils train --out {path.parent}`")
    return torch.load(path, map_location="cpu", weights_only=True)


def checkpoint_config(state: dict) -> TrainConfig:
    """The :class:`TrainConfig` a checkpoint was trained with (JSON-style lists back to tuples)."""
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["config"].items()})


# ----------------------------------------------------------------------------------------------
# distributed


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


# ----------------------------------------------------------------------------------------------
# the loop


def train(config: TrainConfig | None = None, variant: str = "paper", dataset: str | Path = "mnist",
          out: str | Path = RUNS / "mnist_paper_seed0", resume: bool = False, max_steps: int | None = None,
          eval_every: int | None = None, log_every: int = 10, data: DataBundle | None = None,
          progress: bool = True, data_root: str | Path | None = None,
          polyak_eval_last: int | None = None) -> dict:
    """Train ``variant`` on ``dataset`` with ``config``; write metrics and checkpoints under ``out``.

    Files in ``out``: ``metrics.jsonl`` (one line per evaluation: step, epoch, lr, train_loss,
    val_acc, val_acc_polyak, seconds), ``steps.jsonl`` (loss every ``log_every`` steps),
    ``last.pt`` (each epoch, at ``max_steps`` and on Ctrl-C) and ``final.pt`` (at the end).

    Args:
        eval_every: also evaluate every this many steps (default: once per epoch).
        data: a ready :class:`DataBundle` instead of loading ``dataset``.
        data_root: where Imagenette's photos are (see :func:`utils.imagenette.find`).
        polyak_eval_last: evaluate the Polyak average only in the last this many epochs (it costs a
            second pass over the validation set; on photos that is a quarter of an epoch's time).

    Returns:
        ``{"history": [metric rows], "out": Path, "final": Path | None, "step": int}``.
    """
    config = config or TrainConfig()
    rank, world, device = setup_distributed()
    out = Path(out)
    ckpt_path = out / "last.pt"
    state = load_checkpoint(ckpt_path) if resume else None
    if state is not None:
        config = checkpoint_config(state)
        variant = state["variant"]
    data = data or load_dataset(dataset, config.image_size, config, data_root)  # bad input fails before anything is written
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(config.seed + rank)
    model = build_model(variant, len(data.classes), config).to(device)
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
    val_loader = DataLoader(data.val, batch_size=256)

    epoch, batch_in_epoch, step, loss_sum, loss_count = 0, 0, 0, 0.0, 0
    if state is not None:
        model.load_state_dict(state["model"])
        averaged.load_state_dict(state["averaged"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        epoch, batch_in_epoch, step = state["epoch"], state["batch_in_epoch"], state["step"]
        loss_sum, loss_count = state["loss_sum"], state["loss_count"]
        torch.set_rng_state(state["rng_cpu"])
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    model.train()

    def snapshot() -> dict:
        return {"model": model.state_dict(), "averaged": averaged.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "epoch": epoch, "batch_in_epoch": batch_in_epoch, "step": step,
                "loss_sum": loss_sum, "loss_count": loss_count, "rng_cpu": torch.get_rng_state(),
                "config": asdict(config), "variant": variant, "dataset": data.name,
                "classes": list(data.classes), "image_size": config.image_size,
                "mean": list(data.mean), "std": list(data.std), "history": history}

    history = list(state["history"]) if state is not None else []
    metrics_file = out / "metrics.jsonl"
    steps_file = out / "steps.jsonl"
    if rank == 0 and state is None:
        for f in (metrics_file, steps_file):
            f.unlink(missing_ok=True)
    start = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    total_steps = steps_per_epoch * config.epochs
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)
    bar = tqdm(total=total_steps, initial=step, disable=not progress or rank != 0, desc=f"train {variant}")
    pending = []  # losses since the last log, kept as tensors so no step waits for a .item()

    def log_losses():
        nonlocal loss_sum, loss_count
        if not pending:
            return
        values = torch.stack([v for _, v in pending]).tolist()
        if not all(math.isfinite(v) for v in values):
            bad = pending[next(i for i, v in enumerate(values) if not math.isfinite(v))][0]
            raise NonFiniteLoss(
                f"loss became {values[-1]} at step {bad}; training stopped. The last good checkpoint "
                f"is {ckpt_path} (if any). Lower --lr (now {config.lr}) or raise the warm-up.")
        if rank == 0:
            with steps_file.open("a") as f:
                for (s, _), v in zip(pending, values, strict=True):
                    f.write(json.dumps({"step": s, "loss": v}) + "\n")
        loss_sum += sum(values)
        loss_count += len(values)
        pending.clear()

    def evaluate_and_log():
        nonlocal loss_sum, loss_count
        log_losses()
        if rank == 0:
            row = {"step": step, "epoch": round(step / steps_per_epoch, 4),
                   "lr": optimizer.param_groups[0]["lr"],
                   "train_loss": loss_sum / max(loss_count, 1),
                   "val_acc": evaluate(model, val_loader, device),
                   "val_acc_polyak": evaluate(averaged.module, val_loader, device)
                   if config.polyak and (polyak_eval_last is None or step > steps_per_epoch *
                                         (config.epochs - polyak_eval_last)) else None,
                   "seconds": time.perf_counter() - start}
            history.append(row)
            with metrics_file.open("a") as f:
                f.write(json.dumps(row) + "\n")
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", acc=f"{row['val_acc']:.3f}")
        loss_sum, loss_count = 0.0, 0

    def save(path):
        if rank == 0:
            save_checkpoint(path, snapshot())

    try:
        while epoch < config.epochs and (max_steps is None or step < max_steps):
            sampler.set_epoch(epoch)
            indices = list(sampler)[batch_in_epoch * config.batch_size:]
            # its own generator, so that making a loader does not draw from the global RNG (exact resume)
            loader = DataLoader(data.train, batch_size=config.batch_size, sampler=indices,
                                generator=torch.Generator().manual_seed(config.seed))
            for images, target in loader:
                loss = train_step(net, optimizer, scheduler, images.to(device), target.to(device),
                                  config.aux_weight)
                averaged.update_parameters(model)
                step += 1
                batch_in_epoch += 1
                pending.append((step, loss))
                bar.update()
                if step % log_every == 0:
                    log_losses()
                if eval_every and step % eval_every == 0 and batch_in_epoch < steps_per_epoch:
                    evaluate_and_log()
                if max_steps is not None and step >= max_steps:
                    break
            if batch_in_epoch >= steps_per_epoch:
                epoch, batch_in_epoch = epoch + 1, 0
                evaluate_and_log()
            else:
                log_losses()
            save(ckpt_path)
    except KeyboardInterrupt:
        log_losses()  # never save weights that are already NaN
        save(ckpt_path)
        bar.close()
        raise
    finally:
        bar.close()
    final = None
    if epoch >= config.epochs:
        final = out / "final.pt"
        save(final)
    if dist.is_initialized():
        dist.barrier()
    return {"history": history, "out": out, "final": final, "step": step}


# ----------------------------------------------------------------------------------------------
# the default models other notebooks use


def quick_config(variant: str = "paper", seed: int = 0) -> TrainConfig:
    """The short MNIST recipe of quick mode: :func:`utils.recipe.mnist_recipe` cut to 6 epochs.

    The paper variant ends near 95% validation accuracy (the 12-epoch recipe passes 97%).
    """
    return mnist_recipe(epochs=6, seed=seed)


def _lock_is_stale(lock: Path, stale_s: float) -> bool:
    """A lock whose process is gone (same machine), or older than ``stale_s``, no longer holds."""
    try:
        owner = lock.read_text().split()
        if len(owner) == 2 and owner[0] == socket.gethostname():
            try:
                os.kill(int(owner[1]), 0)
            except ProcessLookupError:
                return True  # the trainer was killed (kernel restart, Ctrl-C, crash)
            except (PermissionError, ValueError):
                pass
        return time.time() - lock.stat().st_mtime > stale_s
    except FileNotFoundError:
        return False


def _train_once(path: Path, fit, poll_s: float = 5.0, stale_s: float = 3600.0) -> None:
    """Run ``fit()`` unless ``path`` exists; a lock file makes concurrent notebooks wait, not train twice.

    The lock holds the host name and process id of the trainer, so a lock left by a killed process is
    taken over at once rather than after ``stale_s`` seconds.
    """
    lock = path.with_name("training.lock")
    while not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if _lock_is_stale(lock, stale_s):
                lock.unlink(missing_ok=True)
            else:
                time.sleep(poll_s)
            continue
        os.write(fd, f"{socket.gethostname()} {os.getpid()}".encode())
        os.close(fd)
        try:
            if not path.is_file():
                fit()
        finally:
            lock.unlink(missing_ok=True)
        return


def default_model(variant: str = "paper", seed: int = 0, quick: bool | None = None) -> tuple[nn.Module, dict]:
    """The MNIST GoogLeNet the notebooks share, in eval mode, with its metadata.

    Loads ``RUNS/mnist_{variant}_seed{seed}/final.pt`` (``..._quick/final.pt`` in quick mode); if it
    is missing, trains it first (:func:`utils.recipe.mnist_recipe`, or the short recipe of
    :func:`quick_config` in quick mode) and saves it. Quick and full models live in different
    folders, so a full-mode notebook never shows a quick model's numbers.
    Returns the Polyak-averaged weights (§6: the averaged model is the one used at inference).

    Returns:
        ``(model, meta)``; meta has dataset, classes, image_size, mean, std, val_accuracy,
        val_accuracy_raw, variant, checkpoint.
    """
    quick = quick_mode() if quick is None else quick
    out = RUNS / (f"mnist_{variant}_seed{seed}" + ("_quick" if quick else ""))
    path = out / "final.pt"
    config = quick_config(variant, seed) if quick else mnist_recipe(seed=seed)
    _train_once(path, lambda: train(config, variant, "mnist", out, progress=True))
    state = load_checkpoint(path)
    config = checkpoint_config(state)
    model = build_model(state["variant"], len(state["classes"]), config)
    averaged = AveragedModel(model, use_buffers=True)
    averaged.load_state_dict(state["averaged"])
    model = averaged.module.eval()
    last = state["history"][-1] if state["history"] else {}
    meta = {"dataset": state["dataset"], "classes": list(state["classes"]), "image_size": state["image_size"],
            "mean": tuple(state["mean"]), "std": tuple(state["std"]), "variant": state["variant"],
            "val_accuracy": last.get("val_acc_polyak"), "val_accuracy_raw": last.get("val_acc"),
            "checkpoint": path}
    return model, meta


# ----------------------------------------------------------------------------------------------
# command line


def _cli_train(args: argparse.Namespace) -> int:
    if args.resume:
        config = TrainConfig()  # replaced by the checkpoint's own config
    else:
        overrides = {k: v for k, v in {"epochs": args.epochs, "image_size": args.image_size, "seed": args.seed,
                                        "batch_size": args.batch_size, "lr": args.lr,
                                        "lr_decay_every_epochs": args.decay_every}.items() if v is not None}
        config = recipe_for(str(args.dataset), **overrides)
    name = Path(str(args.dataset)).name.lower()
    out = Path(args.out) if args.out else RUNS / f"{name}_{args.variant}_seed{config.seed}"
    result = train(config, args.variant, args.dataset, out, resume=args.resume, max_steps=args.max_steps,
                   data_root=args.data, polyak_eval_last=args.polyak_eval_last)
    if int(os.environ.get("RANK", "0")) == 0:
        last = result["history"][-1] if result["history"] else {}
        print(json.dumps({"out": str(out), "step": result["step"], "val_acc": last.get("val_acc"),
                          "val_acc_polyak": last.get("val_acc_polyak")}))
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("train", help="train GoogLeNet with the §6 recipe (DDP under torchrun)",
                              description="Train GoogLeNet with the §6 recipe. Run under "
                                          "`torchrun --nproc_per_node=N -m utils train ...` for DDP.")
    p.add_argument("--variant", choices=("paper", "torchvision"), default="paper")
    p.add_argument("--dataset", default="mnist",
                   help="'mnist', 'imagenette', an image folder, or a torchvision dataset name")
    p.add_argument("--data", help="Imagenette's folder (default: $GOOGLENET_DATA, data/imagenette beside "
                                  "the project, or a download into ~/.cache/googlenet-companion)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--image-size", type=int)
    p.add_argument("--out", help="output folder (default runs/DATASET_VARIANT_seedN)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt exactly")
    p.add_argument("--max-steps", type=int, help="stop (and checkpoint) after this many steps in total")
    p.add_argument("--seed", type=int)
    p.add_argument("--polyak-eval-last", type=int, metavar="N",
                   help="evaluate the Polyak average only in the last N epochs (default: every epoch)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--decay-every", type=float, help="epochs between the 4%% decays (§6: 8)")
    p.set_defaults(func=_cli_train)
