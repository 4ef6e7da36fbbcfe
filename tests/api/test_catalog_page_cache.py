"""Rendered catalog pages are kept per API process under the catalog version: every committed
catalog write, wherever it comes from, is visible to the very next request."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

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
