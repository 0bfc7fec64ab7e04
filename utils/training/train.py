"""``python -m utils train``: §6's recipe from the command line.

The work is done elsewhere, one job per module: the loop (:mod:`utils.training.loop`), checkpoints
(:mod:`utils.training.checkpoint`), run folders and their lock (:mod:`utils.training.runs`) and the notebooks' shared
model (:mod:`utils.training.cache`); import each name from its module.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

import torch.distributed as dist

from ..cli_checks import int_in, output_folder, positive_float, positive_int, seed
from ..paths import RUNS
from .checkpoint import checkpoint_config, load_training_checkpoint
from .loop import train
from .recipe import recipe_for
from .runs import default_run_name, holds_run

# command-line option -> TrainConfig field
OVERRIDES = {"epochs": "epochs", "image_size": "image_size", "seed": "seed", "batch_size": "batch_size",
             "lr": "lr", "decay_every": "lr_decay_every_epochs"}


def _dataset_name(dataset: str) -> str:
    """The name a DataBundle of ``dataset`` carries (what a checkpoint records)."""
    lower = str(dataset).lower()
    return lower if lower in ("mnist", "imagenette") else Path(str(dataset)).name


def _cli_train(args: argparse.Namespace) -> int:
    overrides = {field: getattr(args, opt) for opt, field in OVERRIDES.items() if getattr(args, opt) is not None}
    if args.out:
        output_folder(args.out)
    if args.resume and args.start_from:
        raise ValueError("--resume continues the run in --out; --start-from begins a new run from another "
                         "run's weights. Pass one of them")
    if args.resume and not args.out:
        raise ValueError("--resume needs --out, the folder of the run to continue")
    out = Path(args.out) if args.out else None
    # a run killed before its first checkpoint is started again from step 0 (utils.training.loop.train)
    if args.resume and ((out / "last.pt").exists() or not holds_run(out)):
        state = load_training_checkpoint(out / "last.pt")
        if args.dataset is not None and _dataset_name(args.dataset) != state["dataset"]:
            raise ValueError(f"--resume of {out / 'last.pt'} contradicts the checkpoint: dataset: checkpoint "
                             f"{state['dataset']!r}, asked {_dataset_name(args.dataset)!r}")
        dataset = args.dataset or state.get("dataset_arg") or state["dataset"]
        if _dataset_name(dataset) not in ("mnist", "imagenette") and not Path(dataset).is_dir():
            raise ValueError(f"the checkpoint was trained on the image folder {state['dataset']!r}; "
                             "pass its path with --dataset")
        config = replace(checkpoint_config(state), **overrides) if overrides else None  # compared by train()
        variant = args.variant
        data_root = args.data or state.get("data_root")
        polyak_eval_last = args.polyak_eval_last or state.get("polyak_eval_last")
    else:
        dataset = args.dataset or "mnist"
        config = recipe_for(str(dataset), **overrides)
        variant = args.variant
        if variant is None and args.start_from is None:
            variant = "paper"
        out = out or RUNS / default_run_name(dataset, variant or "restart", config.seed)
        data_root, polyak_eval_last = args.data, args.polyak_eval_last
    result = train(config, variant, dataset, out, resume=args.resume, max_steps=args.max_steps,
                   log_every=args.log_every, data_root=data_root, polyak_eval_last=polyak_eval_last,
                   overwrite=args.overwrite, start_from=args.start_from, keep_snapshots=args.snapshots)
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
    p.add_argument("--variant", choices=("paper", "torchvision"), help="default: paper (with --resume: the "
                                                                       "checkpoint's)")
    p.add_argument("--dataset", help="'mnist' (default), 'imagenette', an image folder, or a torchvision "
                                     "dataset name (with --resume: the checkpoint's)")
    p.add_argument("--data", help="Imagenette's folder (default: $GOOGLENET_DATA, data/imagenette beside "
                                  "the project, or a download into ~/.cache/googlenet-companion)")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--image-size", type=int_in(32, 4096))
    p.add_argument("--out", help="output folder (default: a new runs/DATASET_VARIANT_seedN_YYYYmmdd-HHMMSS)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT from its last.pt, exactly")
    p.add_argument("--start-from", metavar="CHECKPOINT",
                   help="start a new run from the weights of a finished run's final.pt (or of a shipped model, "
                        "assets/googlenet_imagenette.pt), with a new warm-up and schedule (a warm restart; not "
                        "--resume)")
    p.add_argument("--snapshots", action="store_true",
                   help="also keep each epoch's checkpoint as OUT_snapshots/snap_NN.pt (a snapshot ensemble's members)")
    p.add_argument("--overwrite", action="store_true",
                   help="OUT holds a run: move it aside to OUT.old-YYYYmmdd-HHMMSS and start a new one")
    p.add_argument("--max-steps", type=positive_int, help="stop (and checkpoint) after this many steps in total")
    p.add_argument("--seed", type=seed)
    p.add_argument("--log-every", type=positive_int, default=10, metavar="N",
                   help="write the loss to steps.jsonl every N steps (default 10)")
    p.add_argument("--polyak-eval-last", type=positive_int, metavar="N",
                   help="evaluate the Polyak average only in the last N epochs (default: every epoch)")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=positive_float)
    p.add_argument("--decay-every", type=positive_float, help="epochs between the 4%% decays (§6: 8)")
    p.set_defaults(func=_cli_train)
