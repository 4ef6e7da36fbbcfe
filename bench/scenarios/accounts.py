"""Accounts: login (bound by argon2) and `GET /accounts/me/` (the authenticated hot path).

    python -m bench accounts                       # an own stack, or the running `make dev`

1. Prepares an activated account (`--user-setup`): `db` runs the `cinema create-admin` code path
   against the stack's database; `mail` registers through the API and follows the activation
   link from the SMTP sink's `.eml` files.
2. Logs in once (preflight: a 429 means the stack runs with the default login rate limit; an
   own stack lifts it) and reads the hash the server stored, so the argon2 parameters reported
   are the server's (the login rehashes if they differ from this process's).
3. Measures the argon2 cost on this machine (bench/scenarios/argon2_cost.py): the login target
   is 80 % of cores / t.
4. Measures `login` (POST /accounts/login/), `me` (GET /accounts/me/ with a bearer token) and,
   on request, `live` (GET /health/live, the bare-endpoint reference).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import httpx

from bench.harness import BUSY_WARNING_PCT, Bench, RateLimitedError, Scenario
from bench.load import BenchError, Request
from bench.machine import OUTSIDE, cores, cpu_by_group, process_snapshot, wait_until_idle
from bench.report import ScenarioReport, Target
from bench.scenarios.argon2_cost import Argon2Params, HashCost, hash_table, measure_hash_cost
from bench.scenarios.mail_account import mail_create_account

RATE_LIMIT_HINT = (
    "The API answered 429 Too Many Requests: the stack's login rate limit is in force "
    "(RATE_LIMIT_LOGIN, default 10 logins per minute per email). Restart it with the limit "
    "lifted, e.g.\n    RATE_LIMIT_LOGIN=100000000 make dev\nor let the benchmark start its own "
    "stack (--stack own), and run the benchmark again."
)
DEFAULT_EMAIL = "bench-user@example.com"
DEFAULT_PASSWORD = "Bench-Passw0rd!"  # the bench account only ever lives in a dev database
LOGIN_TARGET_RATIO = 0.80
ME_TARGET_RPS = 1500.0
REQUESTS = ("login", "me", "live")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("accounts")
    group.add_argument(
        "--accounts-requests",
        default="login,me",
        help=f"comma-separated, from {', '.join(REQUESTS)} (default login,me)",
    )
    group.add_argument(
        "--user-setup",
        choices=("auto", "db", "mail", "none"),
        default="auto",
        help="db: the create-admin code path; mail: register + activation mail; "
        "none: the account exists; auto: db when a database URL is known, else mail",
    )
    group.add_argument("--mail-dir", type=Path, default=None, help="the SMTP sink's folder")
    group.add_argument("--email", default=DEFAULT_EMAIL)
    group.add_argument("--password", default=DEFAULT_PASSWORD)
    group.add_argument("--hash-samples", type=int, default=30, help="argon2 verifies to time")


def stack_env(_args: argparse.Namespace) -> dict[str, str]:
    return {"RATE_LIMIT_LOGIN": "100000000"}


async def _db_create_account(database_url: str, email_: str, password: str) -> str:
    """The `cinema create-admin` code path: an activated account whose password is reset."""
    from cli import create_admin
    from domain.config import Settings

    user_id, created = await create_admin(Settings(database_url=database_url), email_, password)
    what = "created" if created else "existing account, password reset"
    return f"`cinema create-admin` code path: user id {user_id} ({what})"


async def _stored_hash(database_url: str, email_: str) -> str | None:
    from domain.accounts import repository as repo
    from domain.config import Settings
    from domain.db import create_engine, create_session_factory, transaction

    engine = create_engine(Settings(database_url=database_url))
    try:
        async with transaction(create_session_factory(engine)) as session:
            user = await repo.get_user_by_email(session, email_)
            return user.hashed_password if user is not None else None
    finally:
        await engine.dispose()


async def login_once(client: httpx.AsyncClient, email_: str, password: str) -> str:
    """A fresh access token; raises with a clear message on 429 or any other failure."""
    response = await client.post("/accounts/login/", json={"email": email_, "password": password})
    if response.status_code == 429:
        raise RateLimitedError(RATE_LIMIT_HINT)
    if response.status_code != 200:
        raise BenchError(
            f"login failed: {response.status_code} {response.text}\n"
            "Is the account prepared in the database the API uses (--database-url)?"
        )
    token: str = response.json()["access_token"]
    return token


async def _hash_cost(bench: Bench, database_url: str, email_: str) -> HashCost:
    stored = await _stored_hash(database_url, email_)
    if stored is None:
        raise BenchError(f"{email_} is not in the stack's database: wrong --database-url?")
    params = Argon2Params.from_hash(stored)
    args = bench.args
    root = bench.stack.pid if bench.stack is not None else None
    for attempt in range(args.retry_busy + 1):
        await asyncio.to_thread(wait_until_idle, args.wait_idle)
        started, before = time.perf_counter(), process_snapshot(root)
        cost = await measure_hash_cost(params, stored, args.password, args.hash_samples)
        elapsed = time.perf_counter() - started
        outside = cpu_by_group(before, process_snapshot(root), elapsed).get(OUTSIDE, 0.0)
        if outside <= BUSY_WARNING_PCT:
            break
        if attempt < args.retry_busy:
            print(f"- hash cost: outside processes used {outside:.0f}% of a core; again")
    return cost


async def run(bench: Bench) -> ScenarioReport:
    args = bench.args
    report = ScenarioReport("accounts", "Accounts: login and `GET /accounts/me/`")
    wanted = [r.strip() for r in args.accounts_requests.split(",") if r.strip()]
    if set(wanted) - set(REQUESTS):
        raise BenchError(f"--accounts-requests: choose from {', '.join(REQUESTS)}")
    email_ = args.email.strip().lower()
    database_url = bench.stack_env.get("DATABASE_URL")
    setup = args.user_setup
    if setup == "auto":
        setup = "db" if database_url else "mail"
    if setup == "db" and not database_url:
        raise BenchError("--user-setup db needs --database-url, DATABASE_URL or .stack/env")
    mail_dir = args.mail_dir or Path(bench.stack_env.get("DEVSTACK_STATE_DIR", ".stack")) / "mail"

    async with httpx.AsyncClient(base_url=bench.base_url, timeout=30.0) as client:
        if setup == "db":
            how = await _db_create_account(database_url or "", email_, args.password)
        elif setup == "mail":
            how = await mail_create_account(client, mail_dir, email_, args.password, 30)
        else:
            how = "existing account (--user-setup none)"
        report.notes.append(f"account: {email_}: {how}")
        token = await login_once(client, email_, args.password)  # preflight; rehashes if needed

    cost: HashCost | None = None
    if "login" in wanted and database_url:
        cost = await _hash_cost(bench, database_url, email_)
        report.sections.append(("Hash cost", hash_table(cost)))
    elif "login" in wanted:
        report.notes.append("hash cost: skipped (no database URL to read the server's hash)")

    requests = {
        "login": Request(
            "login",
            "POST",
            "/accounts/login/",
            {"Content-Type": "application/json"},
            json.dumps({"email": email_, "password": args.password}),
        ),
        "me": Request("me", "GET", "/accounts/me/", {"Authorization": f"Bearer {token}"}),
        "live": Request("live", "GET", "/health/live"),
    }
    for name in wanted:
        result = await bench.measure(requests[name])
        report.results.append(result)
        if name == "login" and cost is not None:
            ratio = result.throughput / cost.bound_per_second
            report.targets.append(
                Target(
                    f"login >= {LOGIN_TARGET_RATIO:.0%} of the hash-cost bound "
                    f"({LOGIN_TARGET_RATIO * cost.bound_per_second:,.1f}/s of "
                    f"{cost.bound_per_second:,.1f}/s)",
                    f"{result.throughput:,.1f}/s = {ratio:.0%}",
                    ratio >= LOGIN_TARGET_RATIO and result.errors == 0,
                )
            )
        if name == "me":
            report.targets.append(
                Target(
                    f"`GET /accounts/me/` > {ME_TARGET_RPS:,.0f} req/s on {cores()} cores",
                    f"{result.throughput:,.0f}/s, {result.errors} errors",
                    result.throughput >= ME_TARGET_RPS and result.errors == 0,
                )
            )
        if result.rate_limited:
            print(RATE_LIMIT_HINT, file=sys.stderr)
            report.notes.append(f"{name} answered 429: the remaining requests were skipped")
            break
    return report


SCENARIO = Scenario(
    name="accounts",
    help="login (argon2-bound) and GET /accounts/me/, 16 connections",
    default_concurrency=16,
    add_arguments=add_arguments,
    stack_env=stack_env,
    run=run,
)

__all__ = ["SCENARIO", "login_once"]
