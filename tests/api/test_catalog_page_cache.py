"""Rendered catalog pages are kept per API process under the catalog version: every committed
catalog write, wherever it comes from, is visible to the very next request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from api.caching import VersionReads
from domain.catalog.bulk import upsert_movies
from domain.catalog.rules import MovieFields
from domain.db import transaction
from tests.api.catalog_support import browse, create_movie, movie_body, unique, word
from tests.conftest import app_client


async def _detail(client: Any, movie_uuid: str) -> dict[str, Any]:
    """The movie as an anonymous visitor sees it, asked twice: the second answer is the page
    kept from the first, and both are the same."""
    first = await client.get(f"/movies/{movie_uuid}/")
    again = await client.get(f"/movies/{movie_uuid}/")
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.headers["ETag"] == again.headers["ETag"]
    body: dict[str, Any] = await again.get_json()
    return body


def _names(movie: dict[str, Any], kind: str) -> list[str]:
    return [n["name"] for n in movie[kind]]


async def test_writes_outside_the_api_are_seen_at_once(client, stack, moderator) -> None:
    title_word = word()
    body = movie_body(name=f"The {title_word}", genres=[unique("Genre")], stars=[unique("Star")])
    movie = await create_movie(client, moderator, **body)
    assert (await _detail(client, movie["uuid"]))["price"] == "9.99"
    assert (await browse(client, search=title_word))["movies"][0]["price"] == "9.99"

    # `cinema import-movies` / `cinema seed-demo` write through this function.
    async with transaction(stack.sessions) as session:
        await upsert_movies(session, [MovieFields.model_validate({**body, "price": "4.44"})])
    assert (await _detail(client, movie["uuid"]))["price"] == "4.44"
    assert (await browse(client, search=title_word))["movies"][0]["price"] == "4.44"

    # Plain SQL on the name and link tables.
    renamed = unique("Renamed star")
    async with transaction(stack.sessions) as session:
        await session.execute(
            text("UPDATE stars SET name = :new WHERE name = :old"),
            {"new": renamed, "old": body["stars"][0]},
        )
    assert _names(await _detail(client, movie["uuid"]), "stars") == [renamed]
    assert _names((await browse(client, search=title_word))["movies"][0], "stars") == [renamed]

    async with transaction(stack.sessions) as session:
        await session.execute(
            text(
                "DELETE FROM movie_genres USING movies "
                "WHERE movies.id = movie_genres.movie_id AND movies.uuid = :u"
            ),
            {"u": movie["uuid"]},
        )
    assert _names(await _detail(client, movie["uuid"]), "genres") == []


async def test_a_write_in_one_process_is_seen_by_another_at_once(client, stack, moderator) -> None:
    movie = await create_movie(client, moderator)
    async with app_client(stack) as other:
        assert (await _detail(other, movie["uuid"]))["price"] == "9.99"
        patched = await client.patch(
            f"/movies/{movie['uuid']}/", json={"price": "2.49"}, headers=moderator
        )
        assert patched.status_code == 200
        assert (await _detail(other, movie["uuid"]))["price"] == "2.49"


async def test_token_holders_never_get_the_anonymous_page(client, moderator) -> None:
    movie = await create_movie(client, moderator)
    await _detail(client, movie["uuid"])  # kept for anonymous visitors
    staff = await client.get(f"/movies/{movie['uuid']}/", headers=moderator)
    assert staff.status_code == 200
    assert staff.headers["Cache-Control"].startswith("private")


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.001)


class FakeVersionReads:
    """Version reads that answer when the test says so (the order of events is the point)."""

    def __init__(self) -> None:
        self.sent: list[asyncio.Future[int]] = []

    async def read(self) -> int:
        self.sent.append(asyncio.get_running_loop().create_future())
        return await self.sent[-1]


async def test_a_request_never_takes_a_version_read_sent_before_it_arrived() -> None:
    reads = FakeVersionReads()
    versions = VersionReads(reads.read)
    early = asyncio.create_task(versions.current())
    await _until(lambda: len(reads.sent) == 1)
    # These arrive while the first read is on its way: it may predate a write they have seen.
    late = [asyncio.create_task(versions.current()) for _ in range(3)]
    await asyncio.sleep(0.01)
    reads.sent[0].set_result(1)
    assert await early == 1
    await _until(lambda: len(reads.sent) == 2)  # one read, sent after they arrived, for all
    await asyncio.sleep(0.01)
    assert not any(t.done() for t in late)
    reads.sent[1].set_result(2)
    assert [await t for t in late] == [2, 2, 2]
    assert len(reads.sent) == 2


async def test_a_caller_going_away_or_a_failed_read_leaves_the_others_answered() -> None:
    reads = FakeVersionReads()
    versions = VersionReads(reads.read)
    gone, waiting = (asyncio.create_task(versions.current()) for _ in range(2))
    await _until(lambda: len(reads.sent) == 1)
    gone.cancel()
    reads.sent[0].set_result(7)
    assert await waiting == 7

    failing = [asyncio.create_task(versions.current()) for _ in range(2)]
    await _until(lambda: len(reads.sent) == 2)
    reads.sent[1].set_exception(ConnectionError("database down"))
    for task in failing:
        with pytest.raises(ConnectionError):
            await task
    again = asyncio.create_task(versions.current())  # the next caller gets a fresh read
    await _until(lambda: len(reads.sent) == 3)
    reads.sent[2].set_result(8)
    assert await again == 8
