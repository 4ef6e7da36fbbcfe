"""`python -m bench <scenario> [options]`: run benchmark scenarios and print one Markdown report.

    python -m bench catalog                  # `make bench SCENARIO=catalog`
    python -m bench accounts --stack running # against `RATE_LIMIT_LOGIN=100000000 make dev`
    python -m bench all                      # every scenario on one stack (`make bench`)

The stack under test is either one the harness starts (`--stack own`: `python -m devstack up`
in a temporary directory on free ports, stopped at the end) or a running one (`--stack running`:
`make dev`, or any API on a loopback `--base-url`); `--stack auto`, the default, uses a running
stack when one answers at --base-url. The machine may be shared: every run records the CPU used
by each group of processes (API, Postgres, Redis, wrk, the rest of the stack, outside it) and the
load average, and a run during which processes outside the stack used over 15 % of a core is
run again (`--retry-busy`; `--wait-idle` waits for a quiet machine first).

Exit status: 0 when every request succeeded (targets missed are reported, not failed), 1 on
errors in a run or a problem preparing it, 3 on 429s (a login rate limit in force).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvloop

from bench.harness import (
    Bench,
    RateLimitedError,
    add_common_arguments,
    check_common_arguments,
)
from bench.load import BenchError
from bench.report import ScenarioReport, append_markdown, header_lines, render, write_json
from bench.scenarios import SCENARIOS


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")
    choices = {name: [s] for name, s in SCENARIOS.items()}
    choices["all"] = list(SCENARIOS.values())
    for name, scenarios in choices.items():
        helptext = scenarios[0].help if name != "all" else "every scenario, on one stack"
        p = sub.add_parser(name, help=helptext, description=helptext)
        add_common_arguments(p)
        for scenario in scenarios:
            scenario.add_arguments(p)
        p.set_defaults(run=[s.name for s in scenarios], parser=p)
    args = parser.parse_args(argv)
    check_common_arguments(args.parser, args)
    return args


async def amain(args: argparse.Namespace) -> int:
    scenarios = [SCENARIOS[name] for name in args.run]
    bench = Bench(args)
    reports: list[ScenarioReport] = []
    bench.start(scenarios)
    stack = bench.stack_description
    try:
        for scenario in scenarios:
            bench.concurrency = args.concurrency or scenario.default_concurrency
            tool = bench.tool
            if scenario.load_generator:
                tool = f"{scenario.load_generator}; single requests: {tool}"
            header = header_lines(stack, tool)
            report = await scenario.run(bench)
            warning = bench.busy_warning(report.results)
            if warning:
                report.notes.append(warning)
            text = render(report, header)
            print(text, flush=True)
            if args.markdown is not None:
                append_markdown(args.markdown, text)
            reports.append(report)
    finally:
        bench.stop()
    if args.json is not None:
        write_json(args.json, reports, {"label": args.label, "stack": stack})
    results = [r for report in reports for r in report.results]
    if any(r.rate_limited for r in results):
        return 3
    if any(r.errors for r in results):
        print("some requests failed: see the errors column", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return uvloop.run(amain(args))  # the load generator shares the two cores: less CPU
    except RateLimitedError as exc:
        print(str(exc), file=sys.stderr)
        return 3
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
