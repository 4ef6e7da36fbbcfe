"""Catalog browsing (issue 6 §4): a 10,000-movie demo catalog at 32 connections.

    python -m bench catalog                        # an own stack, or the running `make dev`

1. Makes sure the catalog has at least `--movies` movies: when it has fewer, runs
   `cinema seed-demo N` against the stack's database (deterministic; re-running it updates
   instead of duplicating).
2. Checks each URL once (200, the fields a client reads) and finds a movie for the detail and
   the list page's ETag for the conditional GET.
3. Measures: `list` (GET /movies/ page 1 of `--per-page`), `genre` (a genre filter, sort by
   -imdb, page 3), `search` (a word prefix), `detail` (GET /movies/{uuid}/) and
   `conditional` (the list page again with If-None-Match: its ETag, answered 304).
4. Targets: lists >= 1,500 req/s with p99 <= 50 ms, detail >= 2,000 req/s, zero errors.
   `--explain` adds EXPLAIN ANALYZE of the statements of each URL to the report.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from urllib.parse import urlencode

import httpx

from bench.harness import Bench, Scenario
from bench.load import BenchError, Request, RunResult
from bench.report import ScenarioReport, Target
from bench.scenarios.catalog_explain import explain, explain_markdown
from devstack.config import REPO_ROOT

LIST_TARGET_RPS = 1500.0
LIST_TARGET_P99_MS = 50.0
DETAIL_TARGET_RPS = 2000.0
REQUESTS = ("list", "genre", "search", "detail", "conditional")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("catalog")
    group.add_argument("--movies", type=int, default=10_000, help="catalog size (10000)")
    group.add_argument("--per-page", type=int, default=20, help="page size (20)")
    group.add_argument("--genre", default="Drama", help="the genre filter (Drama)")
    group.add_argument("--genre-sort", default="-imdb", help="the genre list's sort (-imdb)")
    group.add_argument("--genre-page", type=int, default=3, help="the genre list's page (3)")
    group.add_argument("--search", default="midn", help="the search text (midn)")
    group.add_argument(
        "--catalog-requests",
        default=",".join(REQUESTS),
        help=f"comma-separated, from {', '.join(REQUESTS)} (default: all)",
    )
    group.add_argument(
        "--explain", action="store_true", help="add EXPLAIN ANALYZE of each URL's statements"
    )


def stack_env(_args: argparse.Namespace) -> dict[str, str]:
    return {}


async def _total(client: httpx.AsyncClient) -> int:
    response = await client.get("/movies/", params={"per_page": 1})
    if response.status_code != 200:
        raise BenchError(f"GET /movies/ answered {response.status_code}: {response.text[:200]}")
    return int(response.json()["total_items"])


def _seed(database_url: str, count: int) -> str:
    started = time.monotonic()
    env = {**os.environ, "DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "cli.py"), "seed-demo", str(count)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise BenchError(f"cinema seed-demo failed: {done.stderr or done.stdout}")
    return f"{done.stdout.strip()} (`cinema seed-demo {count}`, {time.monotonic() - started:.0f} s)"


CATALOG_TABLES = (
    "movies, genres, stars, directors, certifications, movie_genres, movie_stars, movie_directors"
)


async def _analyze(database_url: str) -> None:
    """Fresh planner statistics: right after a bulk load autovacuum has not analysed the
    tables yet, and the plans without statistics are not the ones a running shop gets."""
    from domain.config import Settings
    from domain.db import create_engine

    engine = create_engine(Settings(database_url=database_url))
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f"ANALYZE {CATALOG_TABLES}")
            await conn.commit()
    finally:
        await engine.dispose()


async def _check(client: httpx.AsyncClient, path: str, what: str) -> httpx.Response:
    response = await client.get(path)
    if response.status_code != 200:
        raise BenchError(f"{what}: GET {path} answered {response.status_code}")
    return response


def _list_target(result: RunResult) -> Target:
    met = (
        result.throughput >= LIST_TARGET_RPS
        and result.p99_ms <= LIST_TARGET_P99_MS
        and result.errors == 0
    )
    return Target(
        f"{result.name}: >= {LIST_TARGET_RPS:,.0f} req/s, p99 <= {LIST_TARGET_P99_MS:.0f} ms, "
        "0 errors",
        f"{result.throughput:,.0f}/s, p99 {result.p99_ms:.1f} ms, {result.errors} errors",
        met,
    )


async def run(bench: Bench) -> ScenarioReport:
    args = bench.args
    report = ScenarioReport("catalog", "Catalog: browse, filter, search, detail")
    wanted = [r.strip() for r in args.catalog_requests.split(",") if r.strip()]
    if set(wanted) - set(REQUESTS):
        raise BenchError(f"--catalog-requests: choose from {', '.join(REQUESTS)}")
    database_url = bench.stack_env.get("DATABASE_URL")
    per_page = args.per_page
    paths = {
        "list": "/movies/?" + urlencode({"page": 1, "per_page": per_page}),
        "genre": "/movies/?"
        + urlencode(
            {
                "genre": args.genre,
                "sort": args.genre_sort,
                "page": args.genre_page,
                "per_page": per_page,
            }
        ),
        "search": "/movies/?" + urlencode({"search": args.search, "per_page": per_page}),
    }
    async with httpx.AsyncClient(base_url=bench.base_url, timeout=30.0) as client:
        total = await _total(client)
        if total < args.movies:
            if not database_url:
                raise BenchError("seeding needs the stack's database: --database-url")
            print(f"- catalog: {total} movies; seeding {args.movies}...", file=sys.stderr)
            report.notes.append(await asyncio.to_thread(_seed, database_url, args.movies))
            total = await _total(client)
        report.notes.append(f"catalog: {total:,} movies visible")
        if database_url:
            await _analyze(database_url)
            report.notes.append("ANALYZE of the catalog tables before measuring")
        first = await _check(client, paths["list"], "list")
        page = first.json()
        if not page["movies"]:
            raise BenchError("the catalog is empty")
        paths["detail"] = f"/movies/{page['movies'][0]['uuid']}/"
        paths["conditional"] = paths["list"]
        etag = first.headers.get("ETag")
        for name in ("genre", "search", "detail"):
            body = (await _check(client, paths[name], name)).json()
            if name != "detail":
                report.notes.append(
                    f"{name}: `{paths[name]}` matches {body['total_items']:,} movies, "
                    f"{len(body['movies'])} on the page"
                )
        if "conditional" in wanted and etag is None:
            raise BenchError("the list page has no ETag: conditional GETs cannot be measured")
        again = await client.get(paths["list"], headers={"If-None-Match": etag or ""})
        if etag is not None and again.status_code != 304:
            raise BenchError(f"If-None-Match with the page's own ETag: {again.status_code}")

    requests = {
        name: Request(name, "GET", paths[name]) for name in ("list", "genre", "search", "detail")
    }
    requests["conditional"] = Request(
        "conditional", "GET", paths["list"], {"If-None-Match": etag or ""}, expect=(304, 304)
    )
    for name in wanted:
        result = await bench.measure(requests[name])
        report.results.append(result)
        if name in ("list", "genre", "search"):
            report.targets.append(_list_target(result))
        elif name == "detail":
            report.targets.append(
                Target(
                    f"detail: >= {DETAIL_TARGET_RPS:,.0f} req/s, 0 errors",
                    f"{result.throughput:,.0f}/s, p99 {result.p99_ms:.1f} ms, "
                    f"{result.errors} errors",
                    result.throughput >= DETAIL_TARGET_RPS and result.errors == 0,
                )
            )
        else:
            report.targets.append(
                Target(
                    "conditional (304): no target in the issue; 0 errors",
                    f"{result.throughput:,.0f}/s, p99 {result.p99_ms:.1f} ms, "
                    f"{result.errors} errors",
                    result.errors == 0,
                )
            )
    if args.explain:
        if not database_url:
            raise BenchError("--explain needs the stack's database: --database-url")
        for name in ("list", "genre", "search", "detail"):
            plans = await explain(database_url, paths[name])
            report.sections.append(
                (f"EXPLAIN ANALYZE: {name}", explain_markdown(paths[name], plans))
            )
    return report


SCENARIO = Scenario(
    name="catalog",
    help="GET /movies/ (page 1, genre + sort + page 3, search), detail, 304s; 32 connections",
    default_concurrency=32,
    add_arguments=add_arguments,
    stack_env=stack_env,
    run=run,
)
