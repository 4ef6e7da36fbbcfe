"""Serve the API under several ASGI servers in turn and benchmark each one (for the server choice).

    source .stack/env                                # a running `make dev`: its database etc.
    .venv/bin/python -m bench.compare_servers        # all configurations, 10 s per request

Each configuration is started on a free loopback port with the environment of this shell (so
DATABASE_URL, REDIS_URL, TEMPORAL_ADDRESS point at the stack), then a scenario of the harness
(`python -m bench <scenario> --stack running`) runs against it (default: accounts with `me,live`:
GET /accounts/me/ and GET /health/live, the bare-endpoint reference; `--scenario catalog
--requests list,detail` for the catalog), then the server is stopped (SIGINT to its own
process group) before the next one starts. Uvicorn and Hypercorn are not dependencies of the
project: install them into the venv to measure them (`.venv/bin/pip install uvicorn
hypercorn`); configurations whose server is missing are skipped. `--extra-path DIR` is put
on PYTHONPATH for the servers only, e.g. a `pip install --target DIR uvloop httptools` for the
`+uvloop` configurations, so that the venv itself (and so `make dev`, whose granian picks
uvloop when it is importable) is unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.commands import API_APP, granian_args

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
APP = API_APP
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Config:
    name: str
    module: str  # the server's import name (skipped when missing)
    argv: list[str]  # {port} and {app} are substituted
    needs: tuple[str, ...] = ()  # further modules (e.g. uvloop)


def _granian(workers: int, loop: str = "auto") -> list[str]:
    return granian_args(
        HOST, "{port}", workers, "--loop", loop, "--log-level", "warning", app="{app}"
    )


def _uvicorn(workers: int, loop: str = "asyncio", http: str = "h11") -> list[str]:
    return [
        "-m",
        "uvicorn",
        "--factory",
        "--host",
        HOST,
        "--port",
        "{port}",
        "--workers",
        str(workers),
        "--loop",
        loop,
        "--http",
        http,
        "--no-access-log",
        "--log-level",
        "warning",
        "{app}",
    ]


def _hypercorn(workers: int, worker_class: str = "asyncio") -> list[str]:
    return [
        "-m",
        "hypercorn",
        "--bind",
        f"{HOST}:{{port}}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--log-level",
        "warning",
        "{app}()",  # hypercorn calls a factory written as a call
    ]


CONFIGS: dict[str, Config] = {
    c.name: c
    for c in (
        Config("granian-1w", "granian", _granian(1)),
        Config("granian-2w", "granian", _granian(2)),
        Config("granian-1w+uvloop", "granian", _granian(1, "uvloop"), ("uvloop",)),
        Config("granian-2w+uvloop", "granian", _granian(2, "uvloop"), ("uvloop",)),
        Config("uvicorn-1w", "uvicorn", _uvicorn(1)),
        Config("uvicorn-2w", "uvicorn", _uvicorn(2)),
        Config(
            "uvicorn-1w+uvloop+httptools",
            "uvicorn",
            _uvicorn(1, "uvloop", "httptools"),
            ("uvloop", "httptools"),
        ),
        Config(
            "uvicorn-2w+uvloop+httptools",
            "uvicorn",
            _uvicorn(2, "uvloop", "httptools"),
            ("uvloop", "httptools"),
        ),
        Config("hypercorn-1w", "hypercorn", _hypercorn(1)),
    )
}
DEFAULT_CONFIGS = "granian-1w,granian-2w,uvicorn-1w,uvicorn-2w,hypercorn-1w"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _importable(module: str, extra_path: str | None) -> bool:
    if importlib.util.find_spec(module) is not None:
        return True
    return extra_path is not None and any(
        (Path(extra_path) / name).exists() for name in (module, f"{module}.py")
    )


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.5):
            return True
        time.sleep(0.2)
    return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT to the server's own process group (we started it in a new session), then KILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def run_config(config: Config, args: argparse.Namespace) -> dict[str, Any] | None:
    port = free_port()
    argv = [
        sys.executable,
        *(a.replace("{port}", str(port)).replace("{app}", args.app) for a in config.argv),
    ]
    env = dict(os.environ)
    env.setdefault("RATE_LIMIT_LOGIN", "100000000")
    # bench/ itself is importable by the servers too (`--app module:factory` for variants)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [args.extra_path, str(HERE), env.get("PYTHONPATH")])
    )
    log_path = Path(tempfile.gettempdir()) / f"compare-servers-{config.name}.log"
    print(f"== {config.name}: {' '.join(argv)}  (log: {log_path})", file=sys.stderr)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        if not wait_listening(port, proc, 60):
            print(f"   {config.name} did not start; see {log_path}", file=sys.stderr)
            return None
        time.sleep(1.0)  # every worker up
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
            json_path = Path(out.name)
        bench = [
            sys.executable,
            "-m",
            "bench",
            args.scenario,
            "--stack",
            "running",
            "--base-url",
            f"http://{HOST}:{port}",
            "--concurrency",
            str(args.concurrency),
            "--duration",
            str(args.duration),
            "--warmup",
            str(args.warmup),
            f"--{args.scenario}-requests",
            args.requests,
            "--label",
            config.name + args.tag,
            "--json",
            str(json_path),
        ]
        if args.database_url:
            bench += ["--database-url", args.database_url]
        if args.wait_idle:
            bench += ["--wait-idle", str(args.wait_idle)]
        bench += ["--retry-busy", str(args.retry_busy)]
        done = subprocess.run(bench, cwd=REPO_ROOT, capture_output=True, text=True)
        sys.stderr.write(done.stderr)
        try:
            payload: dict[str, Any] = json.loads(json_path.read_text())
        except (OSError, ValueError):
            print(f"   the benchmark failed:\n{done.stdout}", file=sys.stderr)
            return None
        finally:
            json_path.unlink(missing_ok=True)
        payload["argv"] = argv
        return payload
    finally:
        stop(proc)


def table(rows: Sequence[dict[str, Any]], scenarios: Sequence[str]) -> str:
    head = "| server | " + " | ".join(
        f"{s} req/s | {s} p50 ms | {s} p99 ms | {s} outside CPU" for s in scenarios
    )
    lines = [head + " |", "|---|" + "---:|---:|---:|---:|" * len(scenarios)]
    for row in rows:
        cells = [row["label"]]
        by_name = {r["name"]: r for s in row["scenarios"] for r in s["results"]}
        for s in scenarios:
            r = by_name.get(s)
            if r is None:
                cells += ["n/a"] * 4
                continue
            busy = r.get("cpu_by_group", {}).get("outside", 0.0)
            cells += [
                f"**{r['throughput']:,.0f}**",
                f"{r['p50_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                f"{busy:.0f}%",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--configs",
        default=DEFAULT_CONFIGS,
        help=f"comma-separated, from: {', '.join(CONFIGS)} (default: {DEFAULT_CONFIGS})",
    )
    parser.add_argument("--scenario", choices=("accounts", "catalog"), default="accounts")
    parser.add_argument(
        "--requests", default="me,live", help="the scenario's requests (default me,live)"
    )
    parser.add_argument("--app", default=APP, help=f"the app factory (default {APP})")
    parser.add_argument("--tag", default="", help="appended to each label, e.g. ' (pool 20)'")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--wait-idle", type=float, default=0.0, help="see python -m bench")
    parser.add_argument("--retry-busy", type=int, default=2, help="see python -m bench")
    parser.add_argument("--extra-path", default=None, help="PYTHONPATH entry for the servers")
    parser.add_argument("--json", type=Path, default=None, help="also write all results here")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s): {', '.join(unknown)}")
    rows: list[dict[str, Any]] = []
    for name in names:
        config = CONFIGS[name]
        missing = [m for m in (config.module, *config.needs) if not _importable(m, args.extra_path)]
        if missing:
            print(f"== {name}: skipped ({', '.join(missing)} not installed)", file=sys.stderr)
            continue
        row = run_config(config, args)
        if row is not None:
            rows.append(row)
    scenarios = [s.strip() for s in args.requests.split(",") if s.strip()]
    print(f"\n{args.concurrency} connections, {args.duration} s per request, wrk -t1\n")
    print(table(rows, scenarios))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
