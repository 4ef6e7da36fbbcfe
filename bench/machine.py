"""CPU metering: how busy the machine is, and which processes used the CPU during a run.

Everything comes from /proc (Linux); elsewhere the numbers are simply missing. A process's CPU
time is its own user + system ticks plus those of the children it reaped (Postgres backends that
exit land in the postmaster's), sampled before and after a run.

Processes are put in groups. When the harness started the stack itself (`--stack own`), it knows
the stack's root process: only its descendants count as the stack, and everything else on the
machine (other developers' test runs) is `outside`. Against a stack started elsewhere, groups go
by process name and command line, so a foreign Postgres counts as `postgres`.
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import time
from collections import Counter
from pathlib import Path

API, POSTGRES, REDIS, LOADGEN, TEMPORAL, WORKER, EMULATOR, REST, OUTSIDE = (
    "API server",
    "postgres",
    "redis",
    "bench + wrk",
    "Temporal server",
    "worker",
    "Stripe emulator",
    "devstack, SMTP sink",
    "outside",
)
CPU_GROUPS = (API, POSTGRES, REDIS, LOADGEN, TEMPORAL, WORKER, EMULATOR, REST, OUTSIDE)
IDLE_BUSY_PCT = 10.0  # whole-machine CPU use under which we call the machine idle


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cores() -> int:
    return os.cpu_count() or 1


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat; (0, 0) where there is none."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return 0, 0
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


class CpuMeter:
    """Whole-machine CPU use between start() and stop(), in percent of all cores."""

    def __init__(self) -> None:
        self._start = (0, 0)

    def start(self) -> None:
        self._start = _cpu_times()

    def stop(self) -> float | None:
        busy, total = _cpu_times()
        if total <= self._start[1]:
            return None
        return 100.0 * (busy - self._start[0]) / (total - self._start[1])


def machine_busy(seconds: float = 1.0) -> float | None:
    """CPU use of the whole machine over `seconds` while we send nothing."""
    meter = CpuMeter()
    meter.start()
    time.sleep(seconds)
    return meter.stop()


def wait_until_idle(max_wait: float) -> float | None:
    """Sample 1 s windows until one is under IDLE_BUSY_PCT busy or `max_wait` seconds pass.

    Returns the last sample: what the machine did just before we start measuring.
    """
    deadline = time.monotonic() + max_wait
    while True:
        busy = machine_busy(1.0)
        if busy is None or busy < IDLE_BUSY_PCT or time.monotonic() >= deadline:
            return busy


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _by_name(pid: int, comm: str) -> str | None:
    """The group a process's own name and command line put it in; None: ask its parent."""
    if comm.startswith("python"):
        cmdline = _cmdline(pid)
        if "stripe_emulator" in cmdline:  # before "devstack": it is devstack.stripe_emulator
            return EMULATOR
        if any(server in cmdline for server in ("granian", "uvicorn", "hypercorn")):
            return API
        if "worker.py" in cmdline:
            return WORKER
        if "devstack" in cmdline:
            return REST
        return None
    if comm == "postgres":
        return POSTGRES  # backends that exit are in the postmaster's children's time
    if comm.startswith("redis"):
        return REDIS
    if comm == "temporal":
        return TEMPORAL
    return None


# pid: (group, parent's group, own ticks, reaped children's ticks)
ProcSnapshot = dict[int, tuple[str, str, int, int]]


def process_snapshot(stack_root: int | None = None) -> ProcSnapshot:
    """CPU ticks of every process, grouped (see the module docstring)."""
    raw: dict[int, tuple[str, int, int, int]] = {}  # pid: (comm, ppid, own, children)
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                text = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            comm = text[text.index("(") + 1 : text.rindex(")")]
            fields = text[text.rindex(")") + 2 :].split()
            # after ")": state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
            raw[int(entry.name)] = (
                comm,
                int(fields[1]),
                int(fields[11]) + int(fields[12]),
                int(fields[13]) + int(fields[14]),
            )
    me = os.getpid()
    groups: dict[int, str] = {}

    def group(pid: int, depth: int = 0) -> str:
        if pid in groups:
            return groups[pid]
        comm, ppid, *_ = raw.get(pid, ("", 0, 0, 0))
        if pid == me or (comm == "wrk" and ppid == me):
            found = LOADGEN  # wrk, our child, lands in our children's time when it exits
        elif stack_root is not None and pid == stack_root:
            found = REST
        else:
            parent = group(ppid, depth + 1) if ppid in raw and depth < 64 else OUTSIDE
            named = _by_name(pid, comm)
            if stack_root is not None and parent in (OUTSIDE, LOADGEN):
                found = OUTSIDE  # not a descendant of the stack we started
            elif named is not None:
                found = named
            else:
                found = parent if parent != LOADGEN else OUTSIDE
        groups[pid] = found
        return found

    return {
        pid: (group(pid), group(ppid) if ppid in raw else OUTSIDE, own, children)
        for pid, (_, ppid, own, children) in raw.items()
    }


def cpu_by_group(
    before: ProcSnapshot,
    after: ProcSnapshot,
    seconds: float,
    machine_pct: float | None = None,
) -> dict[str, float]:
    """Percent of one core used by each group of processes between two snapshots.

    A process that exits is reaped by its parent, which then carries the child's whole
    lifetime in its children's time; for a child that was already alive at `before`, what it
    had used by then is taken off again (from its parent's group, where the time landed).
    `machine_pct` (the whole machine, % of all cores) caps `outside` at what the machine used
    beyond the other groups.
    """
    if seconds <= 0:
        return {}
    ticks: Counter[str] = Counter()
    for pid, (group, _, own, children) in after.items():
        _, _, own0, children0 = before.get(pid, (group, group, 0, 0))
        ticks[group] += (own - own0) + (children - children0)
    for pid, (_, parent_group, own0, children0) in before.items():
        if pid not in after:
            ticks[parent_group] -= own0 + children0
    hertz = os.sysconf("SC_CLK_TCK")
    ceiling = 100.0 * cores()
    used = {g: max(0.0, min(ceiling, 100.0 * ticks[g] / hertz / seconds)) for g in CPU_GROUPS}
    if machine_pct is not None:
        rest = sum(v for g, v in used.items() if g != OUTSIDE)
        used[OUTSIDE] = min(used[OUTSIDE], max(0.0, cores() * machine_pct - rest))
    return used


def own_cpu_seconds(children: bool) -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
