"""Checkout (issue 8): checkouts completed end to end per second, and webhook→paid latency, at
16 concurrent buyers, with the Stripe emulator on the same machine.

    python -m bench checkout --stack own --duration 60

1. Makes sure the catalog has `--checkout-movies` movies on sale at Stripe's minimum or more
   (`cinema seed-demo N` when it has fewer).
2. Makes one activated buyer per connection (`--concurrency`, default 16) straight in the
   database, sharing one argon2 hash (16 registrations would measure argon2 and mail), and logs
   each in through the API. Each run has buyers of its own (`bench-buyer-<tag>-<n>`), so no
   buyer owns a movie yet; each buyer goes through the movies in its own order.
3. Each buyer loops (bench/scenarios/checkout_flow.py): add a movie to the cart → create the
   order → checkout → pay through the emulator's control API → wait for `paid` with
   `GET /orders/{id}/?wait=15` (the API answers when the order changes; `--order-wait 0`
   polls every `--poll-interval` instead).
4. Reads webhook→paid for every paid order from the database (`orders.paid_at` minus the
   `received_at` of its `checkout.session.completed` event) and reports it with the
   buyer-seen latencies of each step.
Targets (issue 8): >= 20 checkouts/s on two cores, p99 webhook→paid <= 1 s, zero errors.
"""

from __future__ import annotations

import argparse
import random
import secrets

import aiohttp
import httpx

from bench.harness import Bench, Scenario
from bench.load import BenchError, Request, RunResult, percentile
from bench.report import ScenarioReport, Target
from bench.scenarios.accounts import login_once
from bench.scenarios.catalog import _seed
from bench.scenarios.checkout_flow import (
    Buyer,
    Flow,
    FlowRun,
    db_latencies,
    timed_run,
)
from bench.scenarios.checkout_report import cpu_per_checkout, errors_table, latency_table

TARGET_PER_SECOND = 20.0
TARGET_P99_WEBHOOK_TO_PAID_S = 1.0
PASSWORD = "Bench-Buyer-Passw0rd!"  # bench buyers only ever live in a dev database
STRIPE_MINIMUM = "0.50"  # USD: Stripe refuses a smaller Checkout total


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("checkout")
    group.add_argument(
        "--checkout-movies",
        type=int,
        default=1000,
        help="movies on sale the buyers choose from; each buyer buys each at most once (1000)",
    )
    group.add_argument(
        "--order-wait",
        type=int,
        default=15,
        help="a buyer waits for paid with GET /orders/{id}/?wait=N (a long poll: the API "
        "answers when the order changes), N seconds per request (15); 0: poll every "
        "--poll-interval instead",
    )
    group.add_argument(
        "--poll-interval",
        type=float,
        default=0.1,
        help="with --order-wait 0: seconds between a buyer's GET /orders/{id}/ (0.1)",
    )
    group.add_argument(
        "--no-order-read",
        action="store_true",
        help="skip measuring the buyers' poll alone (GET /orders/{id}/ of a paid order)",
    )
    group.add_argument(
        "--paid-timeout",
        type=float,
        default=15.0,
        help="an order not paid this many seconds after paying is an error (15)",
    )


def stack_env(_args: argparse.Namespace) -> dict[str, str]:
    return {
        "RATE_LIMIT_LOGIN": "100000000",  # 16 logins in a row are not an attack here
        # The emulator's state file is rewritten whole (json.dumps in its event loop) 50 ms
        # after every change: 13 KB more per checkout, so at 20 checkouts/s it would take the
        # emulator's whole core within a minute (docs/benchmarks.md, "Checkout").
        "DEVSTACK_STRIPE_PERSIST": "0",
    }


async def _movies_on_sale(database_url: str, limit: int) -> list[str]:
    from sqlalchemy import text

    from domain.config import Settings
    from domain.db import create_engine

    engine = create_engine(Settings(database_url=database_url))
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT uuid FROM movies WHERE archived_at IS NULL AND price >= :minimum "
                    "ORDER BY id LIMIT :n"
                ),
                {"minimum": STRIPE_MINIMUM, "n": limit},
            )
            return [str(r[0]) for r in rows]
    finally:
        await engine.dispose()


async def _create_buyers(database_url: str, tag: str, count: int) -> list[tuple[int, str]]:
    """Activated users (group USER), one argon2 hash for all: [(id, email)]."""
    from domain.accounts import repository as repo
    from domain.config import Settings
    from domain.db import create_engine, create_session_factory, transaction
    from domain.models import UserGroup
    from domain.security import PasswordHasher

    settings = Settings(database_url=database_url)
    hasher = PasswordHasher(settings)
    try:
        hashed = await hasher.hash(PASSWORD)
    finally:
        hasher.close()
    engine = create_engine(settings)
    made: list[tuple[int, str]] = []
    try:
        async with transaction(create_session_factory(engine)) as session:
            for n in range(count):
                email = f"bench-buyer-{tag}-{n}@example.com"
                user_id = await repo.insert_user_if_absent(
                    session, email, hashed, group=UserGroup.USER, is_active=True
                )
                if user_id is None:
                    raise BenchError(f"{email} exists already")
                made.append((user_id, email))
    finally:
        await engine.dispose()
    return made


async def run(bench: Bench) -> ScenarioReport:
    args = bench.args
    report = ScenarioReport("checkout", "Checkout: end-to-end checkouts and webhook→paid latency")
    database_url = bench.stack_env.get("DATABASE_URL")
    emulator_url = bench.stack_env.get("STRIPE_API_BASE")
    if not database_url:
        raise BenchError("the checkout scenario needs the stack's database: --database-url")
    if not emulator_url:
        raise BenchError("the checkout scenario needs the Stripe emulator (STRIPE_API_BASE)")

    movies = await _movies_on_sale(database_url, args.checkout_movies)
    if len(movies) < args.checkout_movies:
        report.notes.append("catalog: " + _seed(database_url, args.checkout_movies))
        movies = await _movies_on_sale(database_url, args.checkout_movies)
    tag = secrets.token_hex(3)
    buyers_made = await _create_buyers(database_url, tag, bench.concurrency)
    # The buyers speak aiohttp: httpx cost ~10x the CPU per request at 16 concurrent
    # (docs/benchmarks.md), which the load generator takes from the two cores under test.
    timeout = aiohttp.ClientTimeout(total=30.0)
    async with (
        httpx.AsyncClient(base_url=bench.base_url, timeout=30.0) as api,  # logins
        aiohttp.ClientSession(bench.base_url, timeout=timeout) as buyers_api,
        aiohttp.ClientSession(emulator_url, timeout=timeout) as emulator,
    ):
        flow = Flow(
            buyers_api,
            emulator,
            poll=args.poll_interval,
            wait=args.order_wait,
            paid_timeout=args.paid_timeout,
        )
        buyers: list[Buyer] = []
        for user_id, email in buyers_made:
            token = await login_once(api, email, PASSWORD)
            order = movies[:]
            random.Random(user_id).shuffle(order)  # buyers do not all want the same row
            buyers.append(Buyer(user_id, {"Authorization": f"Bearer {token}"}, order))
        report.notes.append(
            f"{len(buyers)} buyers (`bench-buyer-{tag}-*`, made in the database, logged in "
            f"through the API), {len(movies)} movies on sale; emulator at {emulator_url}; "
            + flow.waiting
        )
        runs: dict[int, FlowRun] = {}

        async def run_once(seconds: float) -> RunResult:
            flow_run, result = await timed_run(flow, buyers, seconds)
            runs[id(result)] = flow_run
            return result

        result = await bench.measure_runs("checkout", run_once)
    measured = runs[id(result)]
    report.results.append(result)
    if not args.no_order_read and measured.paid_orders:
        # What one poll costs the API alone: the buyers send several per checkout.
        owner = next(b for b in buyers if b.user_id == measured.paid_by[0])
        read = Request("poll", "GET", f"/orders/{measured.paid_orders[0]}/", owner.headers)
        report.results.append(await bench.measure(read))
    db = await db_latencies(database_url, measured.paid_orders)
    table = latency_table(measured, db)
    report.sections.append(("Latency of each step (the measured run)", table))
    report.sections.append(
        (
            "CPU ms per checkout (the measured run; % of a core x seconds / checkouts)",
            cpu_per_checkout(result),
        )
    )
    report.sections.append(("Errors", errors_table(measured)))
    if result.ok:
        report.notes.append(
            f"the buyers sent {result.responses / result.ok:.1f} requests per checkout "
            "(the polls included)"
        )
    if measured.out_of_movies:
        report.notes.append(
            f"WARNING: {measured.out_of_movies} buyers ran out of movies: raise --checkout-movies"
        )

    webhook_p99 = percentile(db["webhook_to_paid"], 99)
    report.targets += [
        Target(
            f">= {TARGET_PER_SECOND:.0f} checkouts/s end to end at {len(buyers)} buyers",
            f"{result.throughput:,.1f}/s ({result.ok} in {result.seconds:.1f} s)",
            result.throughput >= TARGET_PER_SECOND,
        ),
        Target(
            f"p99 webhook→paid <= {TARGET_P99_WEBHOOK_TO_PAID_S:g} s (database)",
            f"p99 {1000 * webhook_p99:,.0f} ms (p50 "
            f"{1000 * percentile(db['webhook_to_paid'], 50):,.0f} ms, "
            f"{len(db['webhook_to_paid'])} orders)",
            webhook_p99 <= TARGET_P99_WEBHOOK_TO_PAID_S and len(db["webhook_to_paid"]) > 0,
        ),
        Target(
            "zero errors",
            f"{result.errors} errors, {sum(measured.errors.values())} failed checkouts",
            result.errors == 0 and not measured.errors,
        ),
    ]
    return report


SCENARIO = Scenario(
    name="checkout",
    help="end-to-end checkouts (cart → order → Stripe emulator → paid) and webhook→paid, 16 buyers",
    default_concurrency=16,
    add_arguments=add_arguments,
    stack_env=stack_env,
    run=run,
    load_generator="the buyers: aiohttp, one session to the API and one to the emulator",
)
