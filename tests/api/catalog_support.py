"""Helpers for the catalog tests: callers in each group, and movie bodies."""

from __future__ import annotations

import uuid
from typing import Any

from quart.typing import TestClientProtocol

from domain.accounts import service as accounts
from domain.db import transaction
from domain.models import UserGroup
from tests.conftest import Stack
from tests.support import bearer, login, new_email, register_and_activate


async def caller(client: TestClientProtocol, stack: Stack, group: UserGroup) -> dict[str, str]:
    """Authorization headers of a fresh, activated user in `group`."""
    email = new_email(group.value.lower())
    await register_and_activate(client, stack.mail, email)
    if group is not UserGroup.USER:
        async with transaction(stack.sessions) as session:
            await accounts.set_group(session, email, group)
    return bearer((await login(client, email))["access_token"])


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def movie_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": unique("The Movie"),
        "year": 1999,
        "time": 120,
        "imdb": 7.5,
        "votes": 1000,
        "meta_score": 70,
        "gross": 1_000_000.5,
        "description": "A film about testing.",
        "price": "9.99",
        "certification": "PG-13",
        "genres": ["Drama"],
        "directors": [unique("Director")],
        "stars": [unique("Star")],
    }
    body.update(overrides)
    return body
