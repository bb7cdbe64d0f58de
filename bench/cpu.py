"""CPU accounting from Linux ``/proc`` (``None`` where it is not available).

Kept free of the app's imports: the load-generator processes use it.
"""

from __future__ import annotations

import os

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_group_cpu(pgid: int) -> float | None:
    """CPU seconds (user + system) used so far by the live processes of a process group."""
    total = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _TICK


def machine_busy() -> float | None:
    """CPU seconds all cores have been busy since boot (everything but idle and iowait)."""
    try:
        with open("/proc/stat", "rb") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / _TICK
