"""The project's one timing harness: wall time of calls, taking turns, after warm-ups.

Used by the benchmarks (:mod:`benchmarks`), notebook 07, the recording overhead of
:mod:`utils.network.hooks` (:func:`recorder_overhead`), the sparsity study of §3
(:mod:`utils.measuring.sparsity`) and the crop evaluations of §7 (:mod:`utils.results.evaluate`), so every
number in the project is measured the same way:

* warm-up calls first, untimed (oneDNN builds its kernels on the first call of each shape);
* the candidates take turns, one call each per round, so a burst of load from another process
  lands on all of them instead of on one;
* each call is timed on its own, and the caller chooses the statistic: the median for a typical
  time, the minimum for the least disturbed one (other processes only ever add time);
* candidates that keep their own thread pools (ONNX Runtime, OpenVINO, PyTorch's OpenMP) can ask for a
  ``settle``: untimed calls of the same candidate just before its timed one. A pool keeps its threads
  spinning for a while after a call, and on a small machine those threads take the cores from whichever
  candidate runs next; on 2 cores this slowed every engine at batch 1 by 10-40%, the more so the busier
  its predecessor's pool. A user runs one engine at a time, so the settled time is the one they see.

Work too long to repeat (an evaluation of thousands of photos, a notebook, a command) is timed once, by
:func:`stopwatch`.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def num_threads(threads: int | None) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(threads)``, restoring the previous count after it."""
    if threads is None:
        yield
        return
    import torch

    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def interleaved(fns: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1,
                min_run_time: float = 0.0, threads: int | None = None, settle: float = 0.0,
                clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds of every call of each function, the functions taking turns.

    Args:
        fns: name -> a function of no arguments.
        repeats: rounds at least; each round calls every function once.
        warmup: untimed rounds first.
        min_run_time: keep adding rounds until this many seconds were timed in all.
        threads: run with this many intra-op threads (``None``: leave torch's setting alone).
        settle: before each timed call, call the same function untimed until this many seconds have
            passed (at least once when positive), so that the previous candidate's threads have gone
            quiet and this one's are awake; 0 (default): no untimed calls between rounds.

    Returns:
        name -> list of per-call seconds, one per round.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if settle < 0:
        raise ValueError(f"settle must be at least 0 seconds, got {settle}")
    if not fns:
        raise ValueError("nothing to time: pass at least one function")
    times: dict[str, list[float]] = {name: [] for name in fns}
    with num_threads(threads):
        for _ in range(warmup):
            for fn in fns.values():
                fn()
        spent, rounds = 0.0, 0
        while rounds < repeats or spent < min_run_time:
            for name, fn in fns.items():
                if settle > 0:
                    start = clock()
                    fn()
                    while clock() - start < settle:
                        fn()
                t0 = clock()
                fn()
                dt = clock() - t0
                times[name].append(dt)
                spent += dt
            rounds += 1
    return times


class Stopwatch:
    """Seconds since the block of :func:`stopwatch` began, frozen when it ends (``.seconds``)."""

    def __init__(self, clock: Callable[[], float]):
        self._clock, self._start, self._end = clock, clock(), None

    @property
    def seconds(self) -> float:
        return (self._end if self._end is not None else self._clock()) - self._start

    def stop(self) -> None:
        self._end = self._clock()


@contextlib.contextmanager
def stopwatch(clock: Callable[[], float] = time.perf_counter) -> Iterator[Stopwatch]:
    """Wall time of one block, for work too long to repeat (an evaluation, a notebook):
    ``with stopwatch() as watch: ...`` then ``watch.seconds``. Repeated measurements use :func:`interleaved`."""
    watch = Stopwatch(clock)
    try:
        yield watch
    finally:
        watch.stop()


def time_call(fn: Callable[[], object], repeats: int = 5, warmup: int = 1, min_run_time: float = 0.0,
              threads: int | None = None, stat: Callable[[list[float]], float] = statistics.median) -> float:
    """Seconds per call of ``fn()``: ``stat`` (median by default) of the timed calls after ``warmup``."""
    return stat(interleaved({"fn": fn}, repeats, warmup, min_run_time, threads)["fn"])


def recorder_overhead(model=None, input_size: int = 224, batch: int = 1, repeats: int = 5) -> dict[str, float]:
    """Time a plain forward pass against one that records all 45 default outputs
    (:func:`utils.network.hooks.record_activations`).

    Runs interleaved (plain, recorded) pairs after one warm-up pair (:func:`interleaved`) and keeps the
    fastest of each, as ``timeit`` does: other processes only ever add time, so the minimum is the least
    disturbed measurement, and interleaving exposes both to the same conditions. The target is an
    overhead of at most 10%. The copies are small: about 10 MB for one 224x224 image against ~1.5 G
    multiply-adds of compute.

    Args:
        model: the network to time (default: the paper variant, 1000 classes, no aux heads).

    Returns:
        ``plain_ms``, ``recorded_ms`` and ``overhead`` (recorded / plain - 1).
    """
    import torch

    from ..network.hooks import record_activations
    from ..network.model import googlenet

    if model is None:
        model = googlenet("paper", num_classes=1000, aux_logits=False)
    model.eval()
    x = torch.randn(batch, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))

    def recorded():
        with record_activations(model):
            model(x)

    with torch.no_grad():  # one warm-up pair (allocator and kernels), then the two take turns
        times = interleaved({"plain": lambda: model(x), "recorded": recorded}, repeats=repeats, warmup=1)
    p, r = min(times["plain"]), min(times["recorded"])
    return {"plain_ms": 1e3 * p, "recorded_ms": 1e3 * r, "overhead": r / p - 1}
