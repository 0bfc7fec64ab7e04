"""This CPU's theoretical fp32 peak, read from the operating system: cores x lanes x FMA units x 2 x clock.

Every input says where it came from, so the report can show how the ceiling was obtained:

* cores: the CPUs this process may run on (``os.sched_getaffinity``), capped by torch's threads;
* lanes: fp32 values per vector register, from the CPU flags (``avx512f``: 16, ``avx2``: 8, else 4);
* FMA units: not published by the OS; 2 on the x86 server cores of the last decade (Intel since Haswell,
  AMD since Zen 2). AMD's Zen 4 (family 25) runs a 512-bit FMA as two 256-bit halves, so there the
  512-bit lanes count as 8 per unit;
* clock: ``cpu MHz`` of ``/proc/cpuinfo`` (the current clock; under a hypervisor often the nominal one).

One FMA is one multiply-add, two FLOPs.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (empty off Linux)."""
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return {}
    out: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def theoretical_peak(threads: int | None = None, fma_units: int = 2) -> dict:
    """The fp32 peak in GFLOP/s and how each factor was read.

    Returns:
        ``gflops``, ``cores``, ``lanes``, ``fma_units``, ``clock_ghz`` and ``how`` (one line per factor).
    """
    import torch

    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cores = min(affinity, threads or torch.get_num_threads())
    how = [f"cores: {cores} (os.sched_getaffinity: {affinity}, torch threads: {torch.get_num_threads()})"]
    if "avx512f" in flags:
        lanes, why = 16, "avx512f in /proc/cpuinfo flags: 512-bit registers, 16 fp32 lanes"
        if info.get("vendor_id") == "AuthenticAMD" and info.get("cpu family") == "25":
            lanes, why = 8, why + "; AMD family 25 (Zen 4) executes them as two 256-bit halves: 8 lanes per unit"
    elif "avx2" in flags:
        lanes, why = 8, "avx2 in /proc/cpuinfo flags: 256-bit registers, 8 fp32 lanes"
    else:
        lanes, why = 4, f"no avx2/avx512f flag ({platform.machine()}): 128-bit vectors assumed, 4 fp32 lanes"
    how.append(f"lanes: {why}")
    how.append(f"FMA units: {fma_units} per core (assumed: the OS does not publish it)")
    try:
        clock = float(info["cpu MHz"]) / 1000
        how.append(f"clock: {clock:.2f} GHz (cpu MHz in /proc/cpuinfo)")
    except (KeyError, ValueError):
        clock = float("nan")
        how.append("clock: unknown (no cpu MHz in /proc/cpuinfo)")
    return {"gflops": cores * lanes * fma_units * 2 * clock, "cores": cores, "lanes": lanes,
            "fma_units": fma_units, "clock_ghz": clock, "model": info.get("model name", platform.processor()),
            "how": how}
