"""First pass over the catalog routes (the full matrix lives in the other catalog tests)."""

from __future__ import annotations

import pytest

from domain.models import UserGroup
from tests.api.catalog_support import caller, movie_body, unique


@pytest.fixture(scope="module")
async def moderator(client, stack):
    return await caller(client, stack, UserGroup.MODERATOR)


async def test_create_read_patch_browse_delete(client, moderator) -> None:
    genre = unique("Genre")
    body = movie_body(genres=[genre, genre.upper()])
    response = await client.post("/movies/create/", json=body, headers=moderator)
    assert response.status_code == 201, await response.get_json()
    movie = await response.get_json()
    assert movie["name"] == body["name"]
    assert movie["price"] == "9.99"
    assert [g["name"] for g in movie["genres"]] == [genre]

    response = await client.get(f"/movies/{movie['uuid']}/")
    assert response.status_code == 200
    assert (await response.get_json())["stars"] == movie["stars"]

    response = await client.patch(f"/movies/{movie['uuid']}/", json={"imdb": 50}, headers=moderator)
    assert response.status_code == 422, await response.get_json()
    response = await client.patch(
        f"/movies/{movie['uuid']}/", json={"imdb": 8.1, "meta_score": None}, headers=moderator
    )
    assert response.status_code == 200, await response.get_json()
    patched = await response.get_json()
    assert (patched["imdb"], patched["meta_score"]) == (8.1, None)

    response = await client.get("/movies/", query_string={"genre": genre.lower()})
    page = await response.get_json()
    assert response.status_code == 200, page
    assert [m["uuid"] for m in page["movies"]] == [movie["uuid"]]

    word = body["name"].split()[-1][:5]
    response = await client.get("/movies/", query_string={"search": word})
    page = await response.get_json()
    assert [m["uuid"] for m in page["movies"]] == [movie["uuid"]], page

    response = await client.get("/movies/genres/", query_string={"search": genre[:7]})
    listed = await response.get_json()
    assert response.status_code == 200, listed
    assert {"id": movie["genres"][0]["id"], "name": genre, "total_movies": 1} in listed["genres"]

    response = await client.delete(f"/movies/{movie['uuid']}/", headers=moderator)
    assert (await response.get_json())["outcome"] == "deleted"
    assert (await client.get(f"/movies/{movie['uuid']}/")).status_code == 404
