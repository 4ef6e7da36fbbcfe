"""Helpers for the catalog tests: callers in each group, movie bodies, and short-cuts."""

from __future__ import annotations

import random
import string
import uuid
from typing import Any

from quart.typing import TestClientProtocol

from domain.accounts import service as accounts
from domain.db import transaction
from domain.models import UserGroup
from tests.conftest import Stack
from tests.support import bearer, login, new_email, register_and_activate

KINDS = ("genres", "stars", "directors", "certifications")
_random = random.SystemRandom()


async def account(client: TestClientProtocol, stack: Stack, group: UserGroup) -> str:
    """The email of a fresh, activated user in `group` (password: tests.support.PASSWORD)."""
    email = new_email(group.value.lower())
    await register_and_activate(client, stack.mail, email)
    if group is not UserGroup.USER:
        async with transaction(stack.sessions) as session:
            await accounts.set_group(session, email, group)
    return email


async def caller(client: TestClientProtocol, stack: Stack, group: UserGroup) -> dict[str, str]:
    """Authorization headers of a fresh, activated user in `group`."""
    email = await account(client, stack, group)
    return bearer((await login(client, email))["access_token"])


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def word(length: int = 10) -> str:
    """A random word of letters only: one token for full-text search, unlike hex with digits."""
    return "".join(_random.choice(string.ascii_lowercase) for _ in range(length))


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


async def json_of(response: Any) -> Any:
    return await response.get_json()


async def create_movie(
    client: TestClientProtocol, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    response = await client.post("/movies/create/", json=movie_body(**overrides), headers=headers)
    body = await response.get_json()
    assert response.status_code == 201, body
    return dict(body)


async def create_name(
    client: TestClientProtocol, headers: dict[str, str], kind: str, name: str
) -> dict[str, Any]:
    response = await client.post(f"/movies/{kind}/create/", json={"name": name}, headers=headers)
    body = await response.get_json()
    assert response.status_code == 201, body
    return dict(body)


async def browse(client: TestClientProtocol, **params: Any) -> dict[str, Any]:
    """GET /movies/ that must succeed; `params` values may be lists (repeated parameters)."""
    response = await client.get("/movies/", query_string=params)
    body = await response.get_json()
    assert response.status_code == 200, body
    return dict(body)


def uuids(page: dict[str, Any]) -> list[str]:
    return [m["uuid"] for m in page["movies"]]


def names(page: dict[str, Any]) -> list[str]:
    return [m["name"] for m in page["movies"]]


def error_fields(body: dict[str, Any]) -> set[str]:
    """The field or parameter names an error body points at (`loc` without body/query)."""
    return {str(f["loc"][1]) for f in body.get("fields") or [] if len(f["loc"]) > 1}
