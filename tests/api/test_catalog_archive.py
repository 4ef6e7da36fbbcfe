"""Deleting never destroys order history (W22): a movie in an order is archived (hidden from the
catalog, restorable), one nobody ordered is removed, and one that is only in carts is removed
from those carts too; a genre/star/director/certification still in use cannot be deleted.
Orders are real ones, made through the cart and the order service."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from domain.db import transaction
from tests.api.catalog_support import (
    KINDS,
    browse,
    create_movie,
    create_name,
    unique,
    uuids,
)
from tests.api.commerce_support import (
    add_to_cart,
    buyer,
    get_cart,
    order_lines_of,
    put_in_order_history,
)


async def test_an_ordered_movie_is_archived_and_restorable(client, stack, moderator) -> None:
    genre, star = unique("Archive"), unique("Star")
    movie = await create_movie(client, moderator, genres=[genre], stars=[star])
    kept = await create_movie(client, moderator, genres=[genre])
    await put_in_order_history(stack, movie["uuid"])
    path = f"/movies/{movie['uuid']}/"

    response = await client.delete(path, headers=moderator)
    body = await response.get_json()
    assert (response.status_code, body["outcome"]) == (200, "archived"), body
    assert await order_lines_of(stack, movie["uuid"]) == 1  # the order history is intact

    # Gone from the catalog: browse, search, its genre's page, the public detail.
    assert uuids(await browse(client, genre=genre)) == [kept["uuid"]]
    assert uuids(await browse(client, search=movie["name"])) == []
    genre_id = movie["genres"][0]["id"]
    detail = await (await client.get(f"/movies/genres/{genre_id}/")).get_json()
    assert ([m["uuid"] for m in detail["movies"]], detail["total_movies"]) == ([kept["uuid"]], 1)
    listed = await (await client.get("/movies/genres/", query_string={"search": genre})).get_json()
    assert listed["genres"][0]["total_movies"] == 1
    response = await client.get(path)
    assert (response.status_code, (await response.get_json())["error"]) == (404, "movie_not_found")

    # Staff still see it, marked archived; it cannot be edited or deleted again while archived.
    response = await client.get(path, headers=moderator)
    seen = await response.get_json()
    assert response.status_code == 200 and seen["archived_at"] is not None, seen
    assert (await client.patch(path, json={"imdb": 5}, headers=moderator)).status_code == 404
    assert (await client.delete(path, headers=moderator)).status_code == 404
    # Its star is still used (by an archived movie): not deletable.
    star_id = movie["stars"][0]["id"]
    response = await client.delete(f"/movies/stars/{star_id}/", headers=moderator)
    assert (response.status_code, (await response.get_json())["movies"]) == (409, 1)

    response = await client.post(f"{path}restore/", headers=moderator)
    restored = await response.get_json()
    assert response.status_code == 200, restored
    assert restored["archived_at"] is None
    assert {k: restored[k] for k in ("name", "genres", "stars")} == {
        k: movie[k] for k in ("name", "genres", "stars")
    }
    assert set(uuids(await browse(client, genre=genre))) == {movie["uuid"], kept["uuid"]}
    assert (await client.get(path)).status_code == 200

    response = await client.post(f"{path}restore/", headers=moderator)
    error = await response.get_json()
    assert (response.status_code, error["error"]) == (409, "movie_not_archived"), error


async def test_restoring_a_movie_never_archived_is_409(client, moderator) -> None:
    movie = await create_movie(client, moderator)
    response = await client.post(f"/movies/{movie['uuid']}/restore/", headers=moderator)
    assert (response.status_code, (await response.get_json())["error"]) == (
        409,
        "movie_not_archived",
    )


async def test_an_archived_movie_keeps_its_name_and_year(client, stack, moderator) -> None:
    """The archived movie still holds its (name, year): a new movie cannot take it, so that a
    restore can never collide."""
    movie = await create_movie(client, moderator)
    await put_in_order_history(stack, movie["uuid"])
    response = await client.delete(f"/movies/{movie['uuid']}/", headers=moderator)
    assert (await response.get_json())["outcome"] == "archived"
    response = await client.post(
        "/movies/create/",
        json={
            **{k: movie[k] for k in ("name", "year", "time", "imdb", "price")},
            "certification": "G",
        },
        headers=moderator,
    )
    assert (response.status_code, (await response.get_json())["error"]) == (409, "movie_exists")


async def test_a_movie_nobody_ordered_is_deleted_with_its_links(client, stack, moderator) -> None:
    genre = unique("Unordered")
    movie = await create_movie(client, moderator, genres=[genre])
    response = await client.delete(f"/movies/{movie['uuid']}/", headers=moderator)
    assert (await response.get_json())["outcome"] == "deleted"
    assert (await client.get(f"/movies/{movie['uuid']}/", headers=moderator)).status_code == 404
    response = await client.post(f"/movies/{movie['uuid']}/restore/", headers=moderator)
    assert response.status_code == 404
    async with transaction(stack.sessions) as session:
        links = await session.scalar(
            text("SELECT count(*) FROM movie_genres WHERE genre_id = :g"),
            {"g": movie["genres"][0]["id"]},
        )
    assert links == 0


async def test_a_movie_only_in_carts_is_deleted_and_leaves_the_carts(
    client, stack, moderator
) -> None:
    movie, kept = await create_movie(client, moderator), await create_movie(client, moderator)
    shopper = await buyer(client, stack)
    await add_to_cart(client, shopper, movie["uuid"])
    await add_to_cart(client, shopper, kept["uuid"])
    response = await client.delete(f"/movies/{movie['uuid']}/", headers=moderator)
    assert (await response.get_json())["outcome"] == "deleted"
    cart = await get_cart(client, shopper)
    assert [item["movie_uuid"] for item in cart["cart_items"]] == [kept["uuid"]]
    assert cart["total"] == kept["price"]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_name_in_use_cannot_be_deleted(client, moderator, kind: str) -> None:
    name = unique("Used")
    field = {"certifications": "certification"}.get(kind, kind)
    value = name if kind == "certifications" else [name]
    movies = [await create_movie(client, moderator, **{field: value}) for _ in range(2)]
    item = movies[0]["certification"] if kind == "certifications" else movies[0][kind][0]
    path = f"/movies/{kind}/{item['id']}/"
    response = await client.delete(path, headers=moderator)
    error = await response.get_json()
    assert (response.status_code, error["error"], error["movies"]) == (409, "name_in_use", 2)
    assert "2" in error["detail"]
    for movie in movies:
        assert (await client.get(f"/movies/{movie['uuid']}/")).status_code == 200
        await client.delete(f"/movies/{movie['uuid']}/", headers=moderator)
    response = await client.delete(path, headers=moderator)
    assert response.status_code == 200, await response.get_json()
    assert (await client.get(path)).status_code == 404
    response = await client.delete(path, headers=moderator)
    error = await response.get_json()
    assert (response.status_code, error["error"]) == (404, "name_not_found"), error


@pytest.mark.parametrize("kind", KINDS)
async def test_an_unused_name_is_deleted(client, moderator, kind: str) -> None:
    created = await create_name(client, moderator, kind, unique("Unused"))
    response = await client.delete(f"/movies/{kind}/{created['id']}/", headers=moderator)
    assert response.status_code == 200
    assert (await response.get_json())["message"]
    # The name is free again.
    await create_name(client, moderator, kind, created["name"])
