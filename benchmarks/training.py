"""Training on a CPU: time to 97% validation accuracy on MNIST, and the loop's throughput.

Two measurements for §6's recipe as implemented in :mod:`utils.training.train`:

* time-to-97%: wall time until the raw or Polyak-averaged weights first reach 97% top-1 on the
  1,000 held-out MNIST digits, for the paper variant (no batch norm) and torchvision's (with BN);
* throughput: training images per second of the project's step (channels_last, the §5 total loss,
  the Polyak update) against a plain loop over ``torchvision.models.googlenet`` on the same batches
  in the same process, at :data:`TRAINING_IMAGE_SIZE` (the Imagenette recipe's image size);
* the share of a paper-variant training step spent in Figure 3's two LocalRespNorm layers: the step
  timed as built and with the two layers replaced by the identity.

Timings on a shared machine are noisy; the ratio of two measurements taken back to back is more
trustworthy than either number alone.

A third, ``--ablations``, trains the quick recipe once per row of :data:`ABLATIONS` (one change
each) to show what each choice of the recipe is worth.

``python -m benchmarks.training [--quick] [--ablations | --only-ablations] [--out DIR]`` writes
``training.md`` and ``training.json`` (``training_ablations.*`` with ``--only-ablations``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from tqdm.auto import tqdm

from utils.measuring.timing import interleaved, time_call
from utils.paths import RUNS
from utils.training.cache import quick_config
from utils.training.loop import build_model, polyak, total_loss, train, train_step
from utils.training.recipe import TrainConfig, imagenette_recipe, mnist_recipe

TARGET_ACCURACY = 0.97
# The Imagenette recipe's image size (utils.training.recipe): the size the photo model trains at.
TRAINING_IMAGE_SIZE = imagenette_recipe().image_size
BATCH_SIZE = 32


def time_to_accuracy(variant: str, config: TrainConfig, out: Path, eval_every: int = 20,
                     target: float = TARGET_ACCURACY) -> dict:
    """Train ``variant`` on MNIST; report the first evaluation at or above ``target`` (seconds include evals)."""
    with tempfile.TemporaryDirectory(prefix=f"tta_{variant}_", dir=out if out.is_dir() else None) as tmp:
        # a fresh folder each time: nothing of a previous benchmark is mixed in or left behind
        result = train(config, variant, "mnist", Path(tmp) / "run", eval_every=eval_every, progress=False)
    hits = [r for r in result["history"]
            if max(r["val_acc"], r["val_acc_polyak"] or 0.0) >= target]
    last = result["history"][-1]
    return {"variant": variant, "target": target,
            "seconds": hits[0]["seconds"] if hits else None, "step": hits[0]["step"] if hits else None,
            "epochs": hits[0]["epoch"] if hits else None,
            "final_val_acc": last["val_acc"], "final_val_acc_polyak": last["val_acc_polyak"],
            "total_seconds": last["seconds"], "config": {"lr": config.lr, "init": config.init,
                                                         "epochs": config.epochs, "batch_size": config.batch_size}}


def _rate(step, steps: int, batch_size: int, warmup: int = 2) -> float:
    """Images per second of ``step()``: the median of ``steps`` timed calls after ``warmup`` untimed ones.

    The first calls create oneDNN primitives for each layer and memory format, which would otherwise
    dominate a short measurement; the median ignores the odd step slowed by another process.
    """
    return batch_size / time_call(step, repeats=steps, warmup=warmup)


def _batch(batch_size: int, image_size: int, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return (torch.randn(batch_size, 3, image_size, image_size, generator=g),
            torch.randint(0, classes, (batch_size,), generator=g))


def _project_step(model, images, target, config: TrainConfig):
    """The project's training step (utils.training.loop.train_step, then the Polyak update) as a closure."""
    averaged = polyak(model, config)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)

    def step():
        train_step(model, opt, sched, images, target, config.aux_weight)
        averaged.update_parameters(model)
    return step


def loop_options(variant: str = "torchvision", steps: int = 15, batch_size: int = BATCH_SIZE,
                 image_size: int = TRAINING_IMAGE_SIZE) -> list[dict]:
    """What each CPU option of the training step is worth: images/s relative to a plain torchvision loop.

    Options: the memory format (NCHW vs channels_last, the project's default), a fused SGD step, and
    bfloat16 autocast. Each row is the project's step (§5 total loss, Polyak update) with one setting.
    """
    images, target = _batch(batch_size, image_size)
    config = TrainConfig()
    plain = throughput(variant, steps, batch_size, image_size)["plain_images_per_s"]
    rows = []
    for name, channels_last, fused, bf16 in (("NCHW", False, False, False), ("channels_last", True, False, False),
                                            ("channels_last + fused SGD", True, True, False),
                                            ("channels_last + bf16 autocast", True, False, True)):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = build_model(variant, 10, config)
        if not channels_last:
            model = model.to(memory_format=torch.contiguous_format)
        averaged = polyak(model, config)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, fused=fused or None)
        x = images.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)

        def step(model=model, averaged=averaged, opt=opt, x=x, bf16=bf16):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = total_loss(model(x), target, config.aux_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            averaged.update_parameters(model)

        rate = _rate(step, steps, batch_size)
        rows.append({"option": name, "images_per_s": rate, "vs_plain_torchvision": rate / plain})
    return rows


def throughput(variant: str = "torchvision", steps: int = 10, batch_size: int = BATCH_SIZE,
               image_size: int = TRAINING_IMAGE_SIZE, warmup: int = 2) -> dict:
    """Images/s of the project's step vs a plain loop over torchvision's googlenet, taking turns.

    The same batch, the same network (torchvision's googlenet and the project's torchvision
    variant), one step each per round (:func:`utils.measuring.timing.interleaved`); medians.
    """
    images, target = _batch(batch_size, image_size)
    config = TrainConfig()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        project = _project_step(build_model(variant, 10, config), images, target, config)
        tv = torchvision.models.googlenet(num_classes=10, aux_logits=True, init_weights=True)
    tv_opt = torch.optim.SGD(tv.parameters(), lr=0.01, momentum=0.9)

    def plain_step():
        out = tv(images)
        loss = F.cross_entropy(out.logits, target) + 0.3 * (F.cross_entropy(out.aux_logits1, target) +
                                                             F.cross_entropy(out.aux_logits2, target))
        tv_opt.zero_grad()
        loss.backward()
        tv_opt.step()

    times = interleaved({"project": project, "plain_torchvision": plain_step}, repeats=steps, warmup=warmup)
    rates = {k: batch_size / statistics.median(t) for k, t in times.items()}
    return {"variant": variant, "batch_size": batch_size, "image_size": image_size, "steps": steps,
            "project_images_per_s": rates["project"], "plain_images_per_s": rates["plain_torchvision"],
            "speedup_vs_torchvision": rates["project"] / rates["plain_torchvision"]}


def lrn_share(steps: int = 10, batch_size: int = BATCH_SIZE, image_size: int = TRAINING_IMAGE_SIZE,
              warmup: int = 2) -> dict:
    """The share of a paper-variant training step spent in Figure 3's two LocalRespNorm layers.

    Measured two ways, in the same run:

    * ``lrn_share`` (the headline): the project's step (channels-last) on two copies of the same
      network, one as built and one with ``lrn1`` and ``lrn2`` replaced by the identity, taking
      turns. Each round gives ``1 - without / with`` from two steps run back to back, and the
      median over rounds is kept: a paired ratio, so that load which slows a whole round cancels.
    * ``lrn_alone_share``: the two layers' forward and backward passes timed alone, on the inputs
      they received in a step, over the median step with LRN. A cross-check that cannot see what
      the layers cost the rest of the step (memory traffic, saved tensors).
    """
    images, target = _batch(batch_size, image_size)
    config = TrainConfig()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        with_lrn = build_model("paper", 10, config)
    without = build_model("paper", 10, config)
    without.load_state_dict(with_lrn.state_dict())
    without.lrn1, without.lrn2 = torch.nn.Identity(), torch.nn.Identity()
    times = interleaved({"with_lrn": _project_step(with_lrn, images, target, config),
                         "without_lrn": _project_step(without, images, target, config)},
                        repeats=steps, warmup=warmup)
    paired = [1 - w / t for t, w in zip(times["with_lrn"], times["without_lrn"], strict=True)]
    ms = {k: 1e3 * statistics.median(t) for k, t in times.items()}
    alone_ms = 1e3 * _lrn_alone_seconds(with_lrn, images, repeats=max(steps, 5), warmup=warmup)
    return {"batch_size": batch_size, "image_size": image_size, "steps": steps, "with_lrn_ms": ms["with_lrn"],
            "without_lrn_ms": ms["without_lrn"], "lrn_share": statistics.median(paired),
            "lrn_share_quartiles": statistics.quantiles(paired, n=4) if len(paired) > 1 else [paired[0]] * 3,
            "lrn_alone_ms": alone_ms, "lrn_alone_share": alone_ms / ms["with_lrn"]}


LRN_RUNS = 3  # single runs of lrn_share swung from 0.07 to 0.13 on a shared machine


def lrn_share_runs(runs: int = LRN_RUNS, **kwargs) -> dict:
    """:func:`lrn_share` run ``runs`` times, each on fresh networks; the headline is the median run's share.

    Returns the median run's fields, with ``lrn_share`` the median over runs, ``lrn_share_runs`` every
    run's share and ``lrn_share_spread`` their (min, max).
    """
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    results = sorted((lrn_share(**kwargs) for _ in range(runs)), key=lambda r: r["lrn_share"])
    shares = [r["lrn_share"] for r in results]
    return {**results[(runs - 1) // 2], "lrn_share": statistics.median(shares), "lrn_share_runs": shares,
            "lrn_share_spread": (shares[0], shares[-1]), "runs": runs}


def _lrn_alone_seconds(model: torch.nn.Module, images: torch.Tensor, repeats: int, warmup: int) -> float:
    """Median seconds of the forward and backward passes of ``model.lrn1`` and ``model.lrn2`` together,
    replayed on the inputs one training-mode forward pass gives them (channels-last, as in a step)."""
    from .inference import _layer_inputs

    layers = {"lrn1": model.lrn1, "lrn2": model.lrn2}
    got = _layer_inputs(model, layers, images.contiguous(memory_format=torch.channels_last))
    inputs = {n: args[0].detach().clone().requires_grad_(True) for n, args in got.items()}
    grads = {n: torch.randn_like(x) for n, x in inputs.items()}

    def both():
        for n, layer in layers.items():
            inputs[n].grad = None
            layer(inputs[n]).backward(grads[n])
    return time_call(both, repeats=repeats, warmup=warmup)


# One change at a time from the quick recipe (utils.training.cache.quick_config): what each choice of the
# recipe is worth on the BN-free paper variant. Each run is about 6 epochs, ~1.5 minutes on 2 cores.
ABLATIONS: tuple[tuple[str, dict], ...] = (
    ("quick recipe (Kaiming init, batch 32, lr 0.01, crops 35-100%)", {}),
    ("init='caffe' (BVLC: Caffe xavier FAN_IN, bias 0.2)", {"init": "caffe"}),
    ("batch 64", {"batch_size": 64}),
    ("lr 0.02", {"lr": 0.02}),
    ("§6 crops, 8-100% of the area", {"crop_area": (0.08, 1.0)}),
)


def ablations(out: Path, variant: str = "paper", progress: bool = True) -> list[dict]:
    """Train ``variant`` once per row of :data:`ABLATIONS`; final raw and Polyak accuracy of each."""
    rows = []
    for name, change in tqdm(ABLATIONS, desc="recipe ablations", disable=not progress):
        config = replace(quick_config(), **change)
        with tempfile.TemporaryDirectory(prefix="ablation_", dir=out if out.is_dir() else None) as tmp:
            result = train(config, variant, "mnist", Path(tmp) / "run", progress=False)
        last = result["history"][-1]
        rows.append({"setting": name, "epochs": config.epochs, "val_acc": last["val_acc"],
                     "val_acc_polyak": last["val_acc_polyak"], "seconds": last["seconds"]})
    return rows


def run(quick: bool = False, out: Path | None = None, with_ablations: bool = False,
        with_time_to_97: bool = True, with_loop_options: bool = False) -> dict:
    """Throughput, then time-to-97% (skipped in quick mode) and the ablations (if asked)."""
    out = Path(out or RUNS / "benchmarks")
    # the same network (torchvision's) in both loops, so the ratio measures the loop, not the architecture
    tp = throughput("torchvision", steps=3 if quick else 15, warmup=1 if quick else 2)
    lrn = lrn_share_runs(runs=LRN_RUNS, steps=3 if quick else 11, warmup=1 if quick else 2)
    result = {"throughput": tp, "training_speedup_vs_torchvision": tp["speedup_vs_torchvision"],
              "training_image_size": tp["image_size"], "lrn": lrn,
              "lrn_share_of_paper_training_step": lrn["lrn_share"], "time_to_97": []}
    if with_time_to_97 and not quick:
        for variant in ("paper", "torchvision"):  # the MNIST recipe of utils.training.recipe, unchanged
            result["time_to_97"].append(time_to_accuracy(variant, mnist_recipe(), out))
    if with_loop_options:
        result["loop_options"] = loop_options(steps=5 if quick else 15)
    if with_ablations:
        result["ablations"] = ablations(out)
    return result


def markdown(result: dict) -> str:
    tp = result["throughput"]
    lines = ["# Training benchmark (CPU, shared machine: numbers are noisy)", "",
             f"Throughput, batch {tp['batch_size']} at {tp['image_size']}x{tp['image_size']}: project loop "
             f"{tp['project_images_per_s']:.0f} images/s, plain torchvision loop {tp['plain_images_per_s']:.0f} "
             f"images/s (x{tp['speedup_vs_torchvision']:.2f}).", ""]
    if result.get("lrn"):
        lrn = result["lrn"]
        lines += [f"Paper variant, batch {lrn['batch_size']} at {lrn['image_size']}x{lrn['image_size']}, "
                  f"channels-last: a step takes {lrn['with_lrn_ms']:.0f} ms, {lrn['without_lrn_ms']:.0f} ms with "
                  f"its two LocalRespNorm layers replaced by the identity (medians of {lrn.get('steps', '?')} "
                  f"steps each, taking turns). LRN's share, the median over the paired rounds of "
                  f"1 - without / with, is {lrn['lrn_share']:.1%}"
                  + (f" (quartiles {lrn['lrn_share_quartiles'][0]:.1%} and {lrn['lrn_share_quartiles'][2]:.1%})"
                     if lrn.get("lrn_share_quartiles") else "")
                  + "."
                  + (f" Over {lrn['runs']} such runs the share was "
                     f"{', '.join(f'{x:.1%}' for x in lrn['lrn_share_runs'])}: median {lrn['lrn_share']:.1%}, "
                     f"spread {lrn['lrn_share_spread'][0]:.1%} to {lrn['lrn_share_spread'][1]:.1%} (the steps and "
                     f"quartiles above are the median run's)."
                     if lrn.get("lrn_share_runs") else "")
                  + (f" Timed alone on the inputs of a step, the two layers' forward and backward passes take "
                     f"{lrn['lrn_alone_ms']:.0f} ms, {lrn['lrn_alone_share']:.1%} of the step with LRN."
                     if lrn.get("lrn_alone_ms") is not None else ""), ""]
    if result["time_to_97"]:
        lines += ["| variant | seconds to 97% | step | epochs | final val acc (raw / Polyak) |",
                  "|---|---|---|---|---|"]
        for r in result["time_to_97"]:
            secs = f"{r['seconds']:.0f}" if r["seconds"] is not None else "not reached"
            lines.append(f"| {r['variant']} | {secs} | {r['step']} | {r['epochs']} | "
                         f"{r['final_val_acc']:.3f} / {r['final_val_acc_polyak']:.3f} |")
    if result.get("loop_options"):
        lines += ["", "Options of the training step (torchvision's network, same batch):", "",
                  "| option | images/s | vs plain torchvision loop |", "|---|---|---|"]
        lines += [f"| {r['option']} | {r['images_per_s']:.0f} | x{r['vs_plain_torchvision']:.2f} |"
                  for r in result["loop_options"]]
    if result.get("ablations"):
        lines += ["", "Recipe ablations (paper variant, one change from the quick recipe each, seed 0):", "",
                  "| setting | epochs | final val acc raw | final val acc Polyak | seconds |", "|---|---|---|---|---|"]
        for r in result["ablations"]:
            polyak_acc = f"{r['val_acc_polyak']:.3f}" if r["val_acc_polyak"] is not None else "-"
            lines.append(f"| {r['setting']} | {r['epochs']} | {r['val_acc']:.3f} | {polyak_acc} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.training", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="throughput only, few steps")
    p.add_argument("--ablations", action="store_true", help="also train the recipe ablations (~10 minutes)")
    p.add_argument("--loop-options", action="store_true",
                   help="also time the step with NCHW, channels_last, fused SGD and bf16 autocast")
    p.add_argument("--only-ablations", action="store_true", help="the ablations alone (no time-to-97%%)")
    p.add_argument("--out", type=Path, default=RUNS / "benchmarks", help="folder for training.md/.json")
    args = p.parse_args(argv)
    result = run(quick=args.quick, out=args.out, with_ablations=args.ablations or args.only_ablations,
                 with_time_to_97=not args.only_ablations, with_loop_options=args.loop_options)
    name = "training_ablations" if args.only_ablations else "training"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    (args.out / f"{name}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
