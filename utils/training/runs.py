"""Run folders: where one training run keeps its checkpoints and logs, and what keeps it safe.

A folder that holds a run is never written over by another run: training into it needs ``resume``
(continue it) or ``overwrite`` (move it aside to ``FOLDER.old-YYYYmmdd-HHMMSS``, nothing deleted).
While a run trains, it holds a lock on its folder (:class:`RunLock`, an ``flock`` through the
``filelock`` package: the kernel releases it when the process ends, however it ends, so a lock of a
killed process never needs clearing), and a second training on the same folder stops at once with a
message naming the first.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from pathlib import Path

from filelock import FileLock, Timeout

# Files whose presence means a folder holds (part of) a run.
RUN_FILES = ("last.pt", "final.pt", "metrics.jsonl", "steps.jsonl")
LOCK_FILE = ".lock"  # what is locked; stays in place (waiters must share the inode)
OWNER_FILE = "lock.json"  # who holds the lock: host, pid, start time (for the message)


class RunFolderBusy(ValueError):
    """Another process trains into the same folder; the message names it."""


def default_run_name(dataset: str, variant: str, seed: int, now: float | None = None) -> str:
    """``DATASET_VARIANT_seedN_YYYYmmdd-HHMMSS``: a fresh folder name for each run of the command line."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return f"{Path(str(dataset)).name.lower()}_{variant}_seed{seed}_{stamp}"


def holds_run(folder: str | Path) -> list[str]:
    """The run files (:data:`RUN_FILES`) in ``folder``; empty when it holds no run."""
    folder = Path(folder)
    return [name for name in RUN_FILES if (folder / name).exists()]


def run_files_state(folder: str | Path) -> dict[str, int]:
    """The run files in ``folder`` with their modification times (ns): taken when a training checks the
    folder and again once it holds the lock, any difference means another run wrote there meanwhile."""
    folder = Path(folder)
    return {name: (folder / name).stat().st_mtime_ns for name in holds_run(folder)}


def _owner(folder: Path) -> str:
    try:
        info = json.loads((folder / OWNER_FILE).read_text())
        return (f"process {info['pid']} on {info['host']}, started {info['started']}"
                + (f" ({info['command']})" if info.get("command") else ""))
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


class RunLock:
    """Hold the lock of a run folder for the whole run: ``with RunLock(folder): train``.

    Acquiring never waits: a folder locked by a live process raises :class:`RunFolderBusy` naming
    that process (pid, host, start time). The lock is released on exit, on an exception, and by the
    kernel when the process is killed.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._lock = FileLock(self.folder / LOCK_FILE, timeout=0)

    def acquire(self) -> RunLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            raise RunFolderBusy(f"{self.folder} is in use by {_owner(self.folder)}; wait for it to end, or "
                                "train into another --out") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)[:200]}
        (self.folder / OWNER_FILE).write_text(json.dumps(info))
        return self

    def release(self) -> None:
        if self._lock.is_locked:
            (self.folder / OWNER_FILE).unlink(missing_ok=True)
            self._lock.release()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def check_not_busy(folder: str | Path) -> None:
    """Raise :class:`RunFolderBusy` if a live process holds ``folder``'s lock; creates nothing.

    Lets a second training fail before it spends time loading its data."""
    folder = Path(folder)
    if (folder / LOCK_FILE).is_file():
        probe = FileLock(folder / LOCK_FILE, timeout=0)
        try:
            probe.acquire()
        except Timeout:
            raise RunFolderBusy(f"{folder} is in use by {_owner(folder)}; wait for it to end, or "
                                "train into another --out") from None
        probe.release()


def check_run_folder(folder: str | Path, resume: bool, overwrite: bool) -> None:
    """Refuse, before anything is loaded or written, what would destroy or mix runs in ``folder``.

    Raises:
        ValueError: ``folder`` is a file; it holds a run and neither ``resume`` nor ``overwrite`` is
            set; both are set.
        RunFolderBusy: another process trains into it.
    """
    folder = Path(folder)
    if resume and overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite moves it aside; pass one")
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {folder} is a file, not a folder; pass a folder for the run's checkpoints")
    check_not_busy(folder)
    found = holds_run(folder) if folder.is_dir() else []
    if found and not resume and not overwrite:
        raise ValueError(f"{folder} already holds a run ({', '.join(found)}); pass --resume to continue it, "
                         "--overwrite to move it aside (nothing is deleted), or another --out")


def move_aside(folder: str | Path) -> Path | None:
    """Rename ``folder`` to ``FOLDER.old-YYYYmmdd-HHMMSS`` (a suffix ``-N`` if taken); ``None`` if absent."""
    folder = Path(folder)
    if not folder.exists():
        return None
    base = folder.with_name(f"{folder.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
    target, n = base, 1
    while target.exists():
        target, n = base.with_name(f"{base.name}-{n}"), n + 1
    os.rename(folder, target)
    return target


# ----------------------------------------------------------------------------------------------
# a run's log across warm restarts


def checkpoint_of(folder: Path) -> dict | None:
    """The run's final.pt (else last.pt), memory-mapped: only its small fields are read."""
    import torch

    for name in ("final.pt", "last.pt"):
        path = folder / name
        if path.is_file():
            try:
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except Exception:  # a damaged file: the log simply stops at this stage
                return None
    return None


def _parent_folder(origin: dict, runs: Path) -> Path | None:
    """The folder of the checkpoint a warm restart started from (its recorded path may be relative)."""
    from ..paths import ROOT

    recorded = Path(origin["path"])
    for candidate in (recorded, ROOT / recorded, runs / recorded.parent.name / recorded.name):
        if candidate.is_file():
            return candidate.parent
    return None


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill (or damaged): the rows around it stand
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def run_log(folder: str | Path, runs: Path | None = None) -> dict:
    """The whole log of a run, with the runs it was warm-restarted from (``train --start-from``) first.

    Each stage's ``metrics.jsonl`` and ``steps.jsonl`` rows get ``stage`` (0 for the first run) and
    their ``step``, ``epoch`` and ``seconds`` continue the previous stage's (a restart counts from 0 in
    its own folder). A stage whose folder is not on this machine ends the chain there.

    Returns:
        ``{"epochs": [...], "steps": [...], "stages": [{"folder", "config", "variant", "steps_per_epoch",
        "first_step", "first_epoch", "first_seconds"}, ...]}``, oldest stage first.
    """
    from ..paths import RUNS

    runs = Path(runs or RUNS)
    chain, folder, seen = [], Path(folder), set()
    while folder is not None and folder.resolve() not in seen:
        seen.add(folder.resolve())
        state = checkpoint_of(folder)
        chain.append((folder, state))
        origin = (state or {}).get("start_from")
        # a shipped model (train --start-from assets/...pt) ends the chain: its manifest holds the earlier log
        folder = _parent_folder(origin, runs) if origin and not origin.get("shipped") else None
    epochs, steps, stages = [], [], []
    step0, epoch0, seconds0 = 0, 0.0, 0.0
    for k, (folder, state) in enumerate(reversed(chain)):
        rows = _read_jsonl(folder / "metrics.jsonl") or list((state or {}).get("history") or [])
        losses = _read_jsonl(folder / "steps.jsonl")
        first = rows[0] if rows else {}
        per_epoch = round(first["step"] / first["epoch"]) if first.get("step") and first.get("epoch") else None
        stages.append({"folder": folder, "config": (state or {}).get("config"), "variant": (state or {}).get("variant"),
                       "steps_per_epoch": per_epoch, "first_step": int(step0), "first_epoch": epoch0,
                       "first_seconds": seconds0})
        offsets = {"step": step0, "epoch": epoch0, "seconds": seconds0}
        for row in rows:  # a key the row lacks stays absent
            epochs.append({**row, "stage": k, **{key: row[key] + off for key, off in offsets.items()
                                                 if row.get(key) is not None and k > 0}})
        steps += [{**row, "stage": k, "step": row["step"] + step0} for row in losses]
        if rows:
            last = rows[-1]
            step0 += last.get("step", 0)
            epoch0 += last.get("epoch", 0)
            seconds0 += last.get("seconds", 0)
    return {"epochs": epochs, "steps": steps, "stages": stages}


def snapshot_path(folder: str | Path, epoch: int) -> Path:
    """Where ``train(keep_snapshots=True)`` keeps the checkpoint of the end of ``epoch``:
    ``FOLDER_snapshots/snap_NN.pt`` beside the run folder (a snapshot ensemble's member, §7)."""
    folder = Path(folder)
    return folder.parent / f"{folder.name}_snapshots" / f"snap_{epoch:02d}.pt"


def snapshots(folder: str | Path) -> dict[int, Path]:
    """The end-of-epoch snapshots of the run in ``folder`` that are on disk: epoch -> path, by epoch."""
    where = snapshot_path(folder, 0).parent
    found = {}
    for path in where.glob("snap_*.pt") if where.is_dir() else []:
        m = re.fullmatch(r"snap_(\d+)\.pt", path.name)
        if m:
            found[int(m.group(1))] = path
    return dict(sorted(found.items()))
