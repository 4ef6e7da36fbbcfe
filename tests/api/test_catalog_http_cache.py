"""Conditional GETs on the catalog: ETag, 304, Cache-Control, and writes seen at once."""

from __future__ import annotations

import pytest

from domain.models import UserGroup
from tests.api.catalog_support import caller, movie_body


@pytest.fixture(scope="module")
async def moderator(client, stack):
    return await caller(client, stack, UserGroup.MODERATOR)


async def test_etag_304_and_a_write_changes_the_etag(client, moderator) -> None:
    response = await client.post("/movies/create/", json=movie_body(), headers=moderator)
    movie = await response.get_json()
    path = f"/movies/{movie['uuid']}/"

    first = await client.get(path)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag
    assert "public" in first.headers["Cache-Control"]
    assert "Authorization" in first.headers["Vary"]

    cached = await client.get(path, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert await cached.get_data() == b""
    assert cached.headers["ETag"] == etag

    patched = await client.patch(path, json={"price": "1.99"}, headers=moderator)
    assert patched.status_code == 200
    after = await client.get(path, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert (await after.get_json())["price"] == "1.99"
    assert after.headers["ETag"] != etag

    listing = await client.get("/movies/", query_string={"per_page": 1})
    again = await client.get(
        "/movies/", query_string={"per_page": 1}, headers={"If-None-Match": listing.headers["ETag"]}
    )
    assert again.status_code == 304


async def test_responses_to_a_token_holder_are_private(client, moderator) -> None:
    response = await client.get("/movies/", headers=moderator)
    assert response.headers["Cache-Control"].startswith("private")


async def test_errors_and_writes_carry_no_etag(client, moderator) -> None:
    missing = await client.get("/movies/00000000-0000-0000-0000-000000000000/")
    assert missing.status_code == 404 and "ETag" not in missing.headers
    created = await client.post("/movies/create/", json=movie_body(), headers=moderator)
    assert created.status_code == 201 and "ETag" not in created.headers
