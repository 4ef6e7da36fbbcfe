"""The checkout scenario's report tables: latency of each step, CPU per checkout, errors."""

from __future__ import annotations

from bench.load import RunResult, percentile
from bench.machine import CPU_GROUPS, LOADGEN, OUTSIDE, cores
from bench.scenarios.checkout_flow import STEP_NAMES, STEPS, FlowRun


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    cells = [f"{1000 * percentile(ordered, p):,.0f}" for p in (50, 90, 99)]
    top = f"{1000 * ordered[-1]:,.0f}" if ordered else "n/a"
    return f"{len(ordered)} | {' | '.join(cells)} | {top}"


def latency_table(run: FlowRun, db: dict[str, list[float]]) -> str:
    lines = ["| step | n | p50 ms | p90 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|---:|"]
    for step in STEPS:
        lines.append(f"| {STEP_NAMES[step]} | {stats(run.durations[step])} |")
    lines.append(
        "| **webhook → paid** (database: `orders.paid_at` - `stripe_events.received_at`) "
        f"| {stats(db['webhook_to_paid'])} |"
    )
    lines.append(
        "| webhook recorded → handed to the workflow (`handled_at` - `received_at`) "
        f"| {stats(db['webhook_to_signalled'])} |"
    )
    return "\n".join(lines)


def cpu_per_checkout(result: RunResult) -> str:
    """CPU time each group used per checkout: what bounds checkouts/s on this many cores
    whatever else the machine does (a busy machine stretches latency, not CPU per checkout)."""
    if not result.ok or not result.cpu_by_group:
        return "n/a"
    per = {
        g: 10 * result.cpu_by_group.get(g, 0.0) * result.seconds / result.ok
        for g in CPU_GROUPS
        if g != OUTSIDE
    }
    stack = sum(v for g, v in per.items() if g != LOADGEN)
    lines = [
        f"| {' | '.join(per)} | the stack (all but bench) | bound on {cores()} cores |",
        "|" + "---:|" * (len(per) + 2),
        f"| {' | '.join(f'{v:,.1f}' for v in per.values())} | **{stack:,.1f}** "
        f"| {1000 * cores() / stack if stack else 0:,.1f} checkouts/s |",
    ]
    return "\n".join(lines)


def errors_table(run: FlowRun) -> str:
    if not run.errors:
        return "none"
    lines = ["| step: answer | count |", "|---|---:|"]
    lines += [f"| {what} | {n} |" for what, n in run.errors.most_common()]
    return "\n".join(lines)
