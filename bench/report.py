"""One report format for every scenario: Markdown tables (results, where the CPU went,
targets), printed and optionally appended to a file (to paste into docs/benchmarks.md), and
JSON for scripts."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.load import RunResult
from bench.machine import CPU_GROUPS, OUTSIDE, cores, cpu_model, load_average
from devstack.config import REPO_ROOT


@dataclass(frozen=True)
class Target:
    what: str
    measured: str
    met: bool


@dataclass
class ScenarioReport:
    scenario: str
    title: str
    results: list[RunResult] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)  # (heading, markdown)
    notes: list[str] = field(default_factory=list)  # bullet points under the heading


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def fmt_load(load: tuple[float, float, float] | None) -> str:
    return "n/a" if load is None else " / ".join(f"{v:.2f}" for v in load)


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def results_table(results: Sequence[RunResult]) -> str:
    lines = [
        "| request | conc. | s | req/s | p50 ms | p90 ms | p99 ms | max ms "
        "| errors (429 / other / socket) | load avg 1 min | outside CPU | wrk CPU | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        load = fmt(r.load_average[0], 2) if r.load_average else "n/a"
        outside = r.cpu_by_group.get(OUTSIDE)
        rate_digits = 1 if r.throughput < 100 else 0  # checkouts/s are a few per second
        lines.append(
            f"| {r.name}: `{r.method} {r.path}` | {r.concurrency} | {r.seconds:.0f} "
            f"| **{r.throughput:,.{rate_digits}f}** | {r.p50_ms:.1f} | {r.p90_ms:.1f} "
            f"| {r.p99_ms:.1f} | {r.max_ms:.1f} "
            f"| {r.errors} ({r.rate_limited} / {r.other_status} / "
            f"{r.socket_errors}) | {load} | {fmt(outside, 0)}% | {fmt(r.loadgen_cpu_pct, 0)}% "
            f"| {r.extra.get('runs', 1)} |"
        )
    return "\n".join(lines)


def cpu_table(results: Sequence[RunResult]) -> str:
    lines = [
        f"| request | {' | '.join(CPU_GROUPS)} | machine |",
        "|---|" + "---:|" * (len(CPU_GROUPS) + 1),
    ]
    for r in results:
        cells = [f"{r.cpu_by_group.get(g, 0.0):.0f}%" for g in CPU_GROUPS]
        busy = r.machine_busy_during_pct
        machine = "n/a" if busy is None else f"{cores() * busy:.0f}%"
        lines.append(f"| {r.name} | {' | '.join(cells)} | {machine} |")
    return "\n".join(lines)


def targets_table(targets: Sequence[Target]) -> str:
    lines = ["| target | measured | met? |", "|---|---|---|"]
    lines += [f"| {t.what} | {t.measured} | {'yes' if t.met else '**no**'} |" for t in targets]
    return "\n".join(lines)


def render(report: ScenarioReport, header: Sequence[str]) -> str:
    parts = [f"## {report.title}", "", *[f"- {line}" for line in [*header, *report.notes]], ""]
    for heading, body in report.sections:
        parts += [f"### {heading}", "", body, ""]
    if report.results:
        parts += ["### Results", "", results_table(report.results), ""]
        if any(r.cpu_by_group for r in report.results):
            parts += [
                f"### Where the CPU went (% of one core; {cores()} cores = {100 * cores()}%)",
                "",
                cpu_table(report.results),
                "",
            ]
    if report.targets:
        parts += ["### Targets", "", targets_table(report.targets), ""]
    return "\n".join(parts)


def header_lines(stack: str, tool: str) -> list[str]:
    now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return [
        f"{now}, commit {commit()}",
        f"machine: {cores()} cores, {cpu_model()}; load average {fmt_load(load_average())}",
        f"stack: {stack}",
        f"load generator: {tool}",
    ]


def append_markdown(path: Path, text: str) -> None:
    with path.open("a") as out:
        out.write(text.rstrip() + "\n\n")


def write_json(path: Path, reports: Sequence[ScenarioReport], meta: dict[str, Any]) -> None:
    payload = {
        **meta,
        "cores": cores(),
        "cpu_model": cpu_model(),
        "commit": commit(),
        "scenarios": [
            {
                "scenario": r.scenario,
                "results": [asdict(x) | {"throughput": x.throughput} for x in r.results],
                "targets": [asdict(t) for t in r.targets],
                "sections": dict(r.sections),
            }
            for r in reports
        ],
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
