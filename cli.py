"""`cinema`: operator commands.

cinema create-admin --email admin@example.com        # password read from a prompt or
CINEMA_ADMIN_PASSWORD=... cinema create-admin --email admin@example.com
cinema set-group --email someone@example.com --group MODERATOR
cinema import-movies imdb_top_1000.csv [--default-price 4.99]   # CSV or JSON; idempotent
cinema seed-demo 200 [--if-empty]                                # a deterministic demo catalog
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from domain.accounts import service as accounts
from domain.accounts.errors import UserNotFound
from domain.accounts.rules import check_password_strength, normalize_email
from domain.catalog import importer
from domain.catalog import repository as catalog_repo
from domain.catalog.bulk import upsert_movies
from domain.catalog.demo import demo_movies
from domain.config import Settings
from domain.db import SessionFactory, create_engine, create_session_factory, transaction
from domain.models import UserGroup
from domain.security import PasswordHasher


async def create_admin(settings: Settings, email: str, password: str) -> tuple[int, bool]:
    engine = create_engine(settings)
    try:
        async with transaction(create_session_factory(engine)) as session:
            return await accounts.create_admin(session, PasswordHasher(settings), email, password)
    finally:
        await engine.dispose()


async def set_group(settings: Settings, email: str, group: UserGroup) -> int:
    engine = create_engine(settings)
    try:
        async with transaction(create_session_factory(engine)) as session:
            return await accounts.set_group(session, email, group)
    finally:
        await engine.dispose()


async def _with_sessions(settings: Settings, work: Any) -> Any:
    engine = create_engine(settings)
    try:
        return await work(create_session_factory(engine))
    finally:
        await engine.dispose()


class Progress:
    """A one-line progress report on stderr (only on a terminal; a log gets the summary)."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.started = time.monotonic()
        self.live = sys.stderr.isatty()

    def __call__(self, done: int) -> None:
        if self.live and (done % 250 == 0 or done == self.total):
            rate = done / max(time.monotonic() - self.started, 1e-6)
            of = f"/{self.total}" if self.total else ""
            print(f"\r  {done}{of} rows  ({rate:,.0f} rows/s)", end="", file=sys.stderr)

    def done(self) -> float:
        if self.live:
            print(file=sys.stderr)
        return time.monotonic() - self.started


def import_movies_command(path: Path, default_price: Decimal) -> int:
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    settings = Settings()
    progress = Progress(None)
    try:
        summary: importer.ImportSummary = asyncio.run(
            _with_sessions(
                settings,
                lambda sessions: importer.import_movies(
                    sessions, path, default_price=default_price, progress=progress
                ),
            )
        )
    except (ValueError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    seconds = progress.done()
    for error in summary.errors:
        print(f"line {error.line}: {error.reason}", file=sys.stderr)
    good = summary.inserted + summary.updated
    print(
        f"{summary.rows} rows in {seconds:.1f} s: {summary.inserted} movies added, "
        f"{summary.updated} updated, {len(summary.errors)} rows with problems"
        f" ({good / max(seconds, 1e-6):,.0f} movies/s)"
    )
    return 1 if summary.errors else 0


async def _seed(sessions: SessionFactory, count: int, if_empty: bool) -> tuple[int, int] | None:
    async with transaction(sessions) as session:
        existing = await catalog_repo.count_all_movies(session)
    if if_empty and existing:
        return None
    inserted = updated = 0
    movies = list(demo_movies(count))
    for start in range(0, len(movies), importer.BATCH_SIZE):
        async with transaction(sessions) as session:
            result = await upsert_movies(session, movies[start : start + importer.BATCH_SIZE])
        inserted += result.inserted
        updated += result.updated
    async with transaction(sessions) as session:
        await catalog_repo.analyze_catalog(session)
    return inserted, updated


def seed_demo_command(count: int, if_empty: bool) -> int:
    started = time.monotonic()
    outcome = asyncio.run(
        _with_sessions(Settings(), lambda sessions: _seed(sessions, count, if_empty))
    )
    if outcome is None:
        print("the catalog already has movies; nothing seeded (--if-empty)")
        return 0
    inserted, updated = outcome
    print(
        f"demo catalog: {inserted} movies added, {updated} updated "
        f"in {time.monotonic() - started:.1f} s"
    )
    return 0


def _read_password() -> str:
    from_env = os.environ.get("CINEMA_ADMIN_PASSWORD")
    if from_env:
        return from_env
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise SystemExit("passwords do not match")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cinema", description="Online Cinema operator commands")
    sub = parser.add_subparsers(dest="command", required=True)
    admin = sub.add_parser(
        "create-admin",
        help="create an activated ADMIN (or promote and reset an existing account)",
    )
    admin.add_argument("--email", required=True)
    set_group_cmd = sub.add_parser(
        "set-group", help="put an account into a group (USER, MODERATOR or ADMIN)"
    )
    set_group_cmd.add_argument("--email", required=True)
    set_group_cmd.add_argument("--group", required=True, choices=[g.value for g in UserGroup])
    imports = sub.add_parser(
        "import-movies", help="load movies from a CSV or JSON file (IMDb top-1000 columns)"
    )
    imports.add_argument("file", type=Path)
    imports.add_argument(
        "--default-price",
        type=Decimal,
        default=importer.DEFAULT_PRICE,
        help="price of rows without a Price column (default %(default)s)",
    )
    seed = sub.add_parser("seed-demo", help="add a deterministic demo catalog of N movies")
    seed.add_argument("count", type=int)
    seed.add_argument(
        "--if-empty", action="store_true", help="do nothing when the catalog has movies"
    )
    args = parser.parse_args(argv)

    if args.command == "create-admin":
        try:
            email = normalize_email(args.email)
            password = check_password_strength(_read_password())
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        user_id, created = asyncio.run(create_admin(Settings(), email, password))
        verb = "created" if created else "promoted existing account"
        print(f"admin {verb}: user id {user_id}")
    elif args.command == "set-group":
        try:
            user_id = asyncio.run(
                set_group(Settings(), normalize_email(args.email), UserGroup(args.group))
            )
        except (ValueError, UserNotFound) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"user {user_id} is now in group {args.group}")
    elif args.command == "import-movies":
        return import_movies_command(args.file, args.default_price)
    elif args.command == "seed-demo":
        if not 1 <= args.count <= 1_000_000:
            print("error: N must be between 1 and 1000000", file=sys.stderr)
            return 2
        return seed_demo_command(args.count, args.if_empty)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
