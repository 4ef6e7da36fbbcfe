"""No N+1: a page of movies costs at most two SQL statements whatever its size (the count and
the page, with each movie's names in the same rows). Counted on the API's own engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from api.services import EXTENSION_KEY
from tests.api.catalog_support import create_movie, unique

PAGE_SIZES = [1, 50]


@contextmanager
def statements(client: Any) -> Iterator[list[str]]:
    """The SQL statements the app sends while the block runs."""
    engine = client.app.extensions[EXTENSION_KEY].engine.sync_engine
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture(scope="module")
async def crowd(client, moderator) -> str:
    """60 movies under one genre, each with several genres, stars and directors."""
    genre = unique("Crowd")
    for i in range(60):
        await create_movie(
            client,
            moderator,
            genres=[genre, "Drama", unique("G")],
            stars=[unique("Star") for _ in range(3)],
            directors=[unique("Director") for _ in range(2)],
            year=1950 + i,
        )
    return genre


async def get_counted(client, path: str, params: dict[str, Any]) -> tuple[Any, list[str]]:
    with statements(client) as sent:
        response = await client.get(path, query_string=params)
    body = await response.get_json()
    assert response.status_code == 200, body
    return body, sent


@pytest.mark.parametrize("per_page", PAGE_SIZES)
async def test_a_movie_page_is_at_most_two_statements(client, crowd, per_page: int) -> None:
    for params in (
        {"genre": crowd},
        {"genre": crowd, "sort": "-imdb,name", "star": "nobody", "page": 2},
        {"genre": [crowd, "drama"], "search": "movie", "year_from": 1960, "price_max": 100},
    ):
        page, sent = await get_counted(client, "/movies/", {**params, "per_page": per_page})
        assert len(sent) <= 2, "\n\n".join(sent)
    page, sent = await get_counted(client, "/movies/", {"genre": crowd, "per_page": per_page})
    assert len(page["movies"]) == per_page
    assert all(len(m["stars"]) == 3 and len(m["genres"]) == 3 for m in page["movies"])
    assert len(sent) <= 2, "\n\n".join(sent)


@pytest.mark.parametrize("per_page", PAGE_SIZES)
async def test_a_genre_page_is_at_most_two_statements(client, crowd, per_page: int) -> None:
    listed, _ = await get_counted(client, "/movies/genres/", {"search": crowd})
    [genre] = listed["genres"]
    detail, sent = await get_counted(
        client, f"/movies/genres/{genre['id']}/", {"per_page": per_page, "page": 1}
    )
    assert (len(detail["movies"]), detail["total_items"]) == (per_page, 60)
    assert all(len(m["directors"]) == 2 for m in detail["movies"])
    assert len(sent) <= 2, "\n\n".join(sent)


async def test_a_movie_and_a_name_list_are_few_statements(client, crowd) -> None:
    page, _ = await get_counted(client, "/movies/", {"genre": crowd, "per_page": 1})
    _, sent = await get_counted(client, f"/movies/{page['movies'][0]['uuid']}/", {})
    assert len(sent) == 1, "\n\n".join(sent)
    for kind in ("genres", "stars", "directors", "certifications"):
        _, sent = await get_counted(client, f"/movies/{kind}/", {"per_page": 100})
        assert len(sent) <= 2, "\n\n".join(sent)
