"""The harness every scenario uses: the stack under test, measuring one request (warm-up, idle
check, CPU metering, a re-run when the machine was busy), and the options they all share.

A scenario is a `Scenario`: its options, what it needs from an own stack's environment, and an
async `run(bench)` that prepares its data, calls `bench.measure(request)` for each request and
returns a `ScenarioReport` (results, targets, extra sections). `bench/__main__.py` runs them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.load import BenchError, Request, RunResult, run_aiohttp, run_wrk
from bench.machine import (
    OUTSIDE,
    CpuMeter,
    cpu_by_group,
    load_average,
    process_snapshot,
    wait_until_idle,
)
from bench.report import ScenarioReport
from bench.stack import OwnStack, api_answers, running_stack_env

BUSY_WARNING_PCT = 15.0  # % of one core used outside the stack that makes a run suspect


class RateLimitedError(BenchError):
    pass


@dataclass(frozen=True)
class Scenario:
    name: str
    help: str
    default_concurrency: int
    add_arguments: Callable[[argparse.ArgumentParser], None]
    stack_env: Callable[[argparse.Namespace], dict[str, str]]  # for an own stack
    run: Callable[[Bench], Awaitable[ScenarioReport]]
    # What sends its load, when not only the harness's wrk/aiohttp (the report's header).
    load_generator: str | None = None


class Bench:
    """What a scenario gets: the parsed options, the stack, and `measure`."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.wrk = shutil.which("wrk") if args.tool in ("auto", "wrk") else None
        if args.tool == "wrk" and self.wrk is None:
            raise BenchError("wrk is not installed (apt-get install wrk), or use --tool aiohttp")
        self.base_url: str = args.base_url
        self.stack: OwnStack | None = None
        self.stack_env: dict[str, str] = {}  # DATABASE_URL, DEVSTACK_STATE_DIR, ...
        self.concurrency: int = args.concurrency or 16

    @property
    def tool(self) -> str:
        if self.wrk is None:
            return "aiohttp (wrk is not installed)"
        return f"wrk -t{self.args.wrk_threads} ({self.wrk})"

    @property
    def stack_description(self) -> str:
        if self.stack is not None:
            return (
                f"own (`python -m devstack up` in a temporary directory, "
                f"{self.args.api_workers} Granian workers) at {self.base_url}"
            )
        return f"running at {self.base_url}"

    # ---------------------------------------------------------------------------- the stack
    def start(self, scenarios: list[Scenario]) -> None:
        mode = self.args.stack
        if mode == "auto":
            mode = "running" if api_answers(self.base_url) else "own"
            print(f"- --stack auto: {mode}", file=sys.stderr)
        if mode == "own":
            env: dict[str, str] = {}
            for scenario in scenarios:
                env.update(scenario.stack_env(self.args))
            self.stack = OwnStack(env, self.args.api_workers)
            self.stack.start()
            self.base_url = self.stack.base_url
            self.stack_env = dict(self.stack.env)
        else:
            if not api_answers(self.base_url):
                raise BenchError(f"no API answers at {self.base_url} (start `make dev`?)")
            self.stack_env = running_stack_env()
        if self.args.database_url:
            self.stack_env["DATABASE_URL"] = self.args.database_url

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
            self.stack = None

    # ---------------------------------------------------------------------------- measuring
    async def _run_once(self, request: Request, concurrency: int, seconds: float) -> RunResult:
        if self.wrk is not None:
            return await asyncio.to_thread(
                run_wrk,
                self.wrk,
                self.base_url,
                request,
                concurrency,
                seconds,
                self.args.wrk_threads,
            )
        return await run_aiohttp(self.base_url, request, concurrency, seconds)

    async def measure(self, request: Request, concurrency: int | None = None) -> RunResult:
        """A warm-up, then one run of `request`; again (up to --retry-busy times) while
        processes outside the stack used more than BUSY_WARNING_PCT of a core. The run with
        the least CPU used outside the stack is the result."""
        conc = concurrency or self.concurrency
        return await self.measure_runs(
            request.name, lambda seconds: self._run_once(request, conc, seconds)
        )

    async def measure_runs(
        self, name: str, run_once: Callable[[float], Awaitable[RunResult]]
    ) -> RunResult:
        """`measure` for any load: `run_once(seconds)` runs it for that long (a scenario's own
        multi-step loop, e.g. checkout) and returns its RunResult; CPU metering, the warm-up
        and the re-runs on a busy machine are the same as for one request."""
        if self.args.warmup > 0:
            await run_once(self.args.warmup)
        root = self.stack.pid if self.stack is not None else None
        runs: list[RunResult] = []
        while True:
            busy_before = await asyncio.to_thread(wait_until_idle, self.args.wait_idle)
            meter = CpuMeter()
            meter.start()
            before = process_snapshot(root)
            result = await run_once(self.args.duration)
            after = process_snapshot(root)
            result.machine_busy_during_pct = meter.stop()
            result.cpu_by_group = cpu_by_group(
                before, after, result.seconds, result.machine_busy_during_pct
            )
            result.machine_busy_before_pct = busy_before
            result.load_average = load_average()
            runs.append(result)
            outside = result.cpu_by_group.get(OUTSIDE, 0.0)
            print(
                f"- {name}: {result.throughput:,.1f}/s, p50 {result.p50_ms:.1f} ms, "
                f"p99 {result.p99_ms:.1f} ms, errors {result.errors}, "
                f"outside CPU {outside:.0f}%",
                file=sys.stderr,
            )
            if outside <= BUSY_WARNING_PCT or len(runs) > self.args.retry_busy:
                break
            print(f"- {name}: the machine was busy; measuring again", file=sys.stderr)
        best = min(runs, key=lambda r: r.cpu_by_group.get(OUTSIDE, 0.0))
        best.extra["runs"] = len(runs)
        return best

    def busy_warning(self, results: list[RunResult]) -> str | None:
        busy = [r.name for r in results if r.cpu_by_group.get(OUTSIDE, 0.0) > BUSY_WARNING_PCT]
        if not busy:
            return None
        return (
            f"WARNING: processes outside the stack used over {BUSY_WARNING_PCT:.0f}% of a core "
            f"during {', '.join(busy)}: measure again when the machine is idle (--wait-idle)."
        )


# ---------------------------------------------------------------------------- options


def default_base_url() -> str:
    return (
        os.environ.get("BENCH_BASE_URL") or f"http://127.0.0.1:{os.environ.get('API_PORT', '8001')}"
    )


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        choices=("auto", "own", "running"),
        default="auto",
        help="own: start a stack of our own (`python -m devstack up` in a temporary directory, "
        "free ports); running: the stack at --base-url; auto (default): running when "
        "--base-url answers, else own",
    )
    parser.add_argument(
        "--base-url",
        default=default_base_url(),
        help="a running stack's API (default: BENCH_BASE_URL, else http://127.0.0.1:$API_PORT "
        "or :8001); loopback only",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="a running stack's database (default: DATABASE_URL, else .stack/env)",
    )
    parser.add_argument(
        "--api-workers", type=int, default=2, help="Granian workers of an own stack (2)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=None, help="connections (default: per scenario)"
    )
    parser.add_argument("--duration", type=int, default=15, help="seconds per request (15)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up (2; 0: none)")
    parser.add_argument(
        "--tool", choices=("auto", "wrk", "aiohttp"), default="auto", help="load generator"
    )
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        help="before each run, wait up to this many seconds for the machine to be idle "
        "(under 10%% CPU over 1 s); default 0: just record how busy it was",
    )
    parser.add_argument(
        "--retry-busy",
        type=int,
        default=2,
        help=f"run again, up to this many times, when processes outside the stack used over "
        f"{BUSY_WARNING_PCT:.0f}%% of a core (2)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument(
        "--markdown", type=Path, default=None, help="append the Markdown report to this file"
    )
    parser.add_argument("--label", default="", help="a note carried into --json")


def check_common_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 1 <= args.duration <= 600 or not 0 <= args.warmup <= 60:
        parser.error("--duration must be 1..600 seconds and --warmup 0..60")
    if args.concurrency is not None and not 1 <= args.concurrency <= 1024:
        parser.error("--concurrency must be 1..1024")
    host = urlsplit(args.base_url).hostname or ""
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        parser.error("--base-url must be a loopback address (127.0.0.0/8, localhost, ::1)")
