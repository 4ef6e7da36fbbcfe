"""`cinema`: operator commands.

cinema create-admin --email admin@example.com        # password read from a prompt or
CINEMA_ADMIN_PASSWORD=... cinema create-admin --email admin@example.com
cinema set-group --email someone@example.com --group MODERATOR
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from domain.accounts import service as accounts
from domain.accounts.rules import check_password_strength, normalize_email
from domain.config import Settings
from domain.db import create_engine, create_session_factory, transaction
from domain.errors import UserNotFound
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
