"""Genres, stars, directors and certifications: lists by name with a literal `search` prefix and
total_movies (archived movies not counted), a detail listing its movies as full, paginated
items (W38, W39), and the 404s and 422s of every route."""

from __future__ import annotations

import pytest

from tests.api.catalog_support import (
    KINDS,
    create_movie,
    create_name,
    error_fields,
    word,
)
from tests.api.commerce_support import put_in_order_history


async def listed(client, kind: str, **params) -> dict:
    response = await client.get(f"/movies/{kind}/", query_string=params)
    body = await response.get_json()
    assert response.status_code == 200, body
    return body


@pytest.mark.parametrize("kind", KINDS)
async def test_list_by_name_with_a_prefix_search(client, moderator, kind: str) -> None:
    prefix = word(8)
    spelled = [f"{prefix} delta", f"{prefix.upper()} Alpha", f"{prefix} charlie", f"{prefix} Bravo"]
    for name in spelled:
        await create_name(client, moderator, kind, name)
    body = await listed(client, kind, search=prefix.title())
    assert [item["name"] for item in body[kind]] == [spelled[i] for i in (1, 3, 2, 0)]
    assert body["total_items"] == 4
    assert all(set(item) == {"id", "name", "total_movies"} for item in body[kind])
    # A prefix of the name only, not a part inside it.
    inside = [item["name"] for item in (await listed(client, kind, search=prefix[1:]))[kind]]
    assert not set(inside) & set(spelled)
    assert (await listed(client, kind, search=f"{prefix} b"))[kind][0]["name"] == spelled[3]
    # Pages of it.
    page = await listed(client, kind, search=prefix, per_page=3, page=2)
    assert [item["name"] for item in page[kind]] == [spelled[0]]
    assert (page["total_pages"], page["next_page"]) == (2, None)
    assert f"search={prefix}" in page["prev_page"]


@pytest.mark.parametrize("kind", KINDS)
async def test_search_wildcards_are_literal(client, moderator, kind: str) -> None:
    prefix = word(8)
    for name in (f"{prefix}%off", f"{prefix}_x", f"{prefix}ab", f"{prefix}\\z"):
        await create_name(client, moderator, kind, name)
    for search, expected in (
        (f"{prefix}%", [f"{prefix}%off"]),
        (f"{prefix}_", [f"{prefix}_x"]),
        (f"{prefix}\\", [f"{prefix}\\z"]),
        (f"{prefix}a", [f"{prefix}ab"]),
        ("%", None),
        ("_", None),
    ):
        found = [item["name"] for item in (await listed(client, kind, search=search))[kind]]
        if expected is None:
            assert all(name.startswith(search) for name in found), (search, found)
        else:
            assert found == expected, search


@pytest.mark.parametrize("kind", ["genres", "stars", "directors"])
async def test_detail_lists_its_movies_as_full_items(client, stack, moderator, kind) -> None:
    name = word(8).title()
    movies = [
        await create_movie(client, moderator, name=f"{title} {name}", year=year, **{kind: [name]})
        for title, year in (("Charlie", 2000), ("alpha", 1990), ("Bravo", 2010), ("alpha", 2001))
    ]
    archived = await create_movie(client, moderator, name=f"Archived {name}", **{kind: [name]})
    await put_in_order_history(stack, archived["uuid"])
    response = await client.delete(f"/movies/{archived['uuid']}/", headers=moderator)
    assert (await response.get_json())["outcome"] == "archived"
    item_id = movies[0][kind][0]["id"]
    [item] = (await listed(client, kind, search=name))[kind]
    assert item == {"id": item_id, "name": name, "total_movies": 4}

    response = await client.get(f"/movies/{kind}/{item_id}/", query_string={"per_page": 3})
    detail = await response.get_json()
    assert response.status_code == 200, detail
    assert (detail["id"], detail["name"], detail["total_movies"]) == (item_id, name, 4)
    assert (detail["total_items"], detail["total_pages"], detail["prev_page"]) == (4, 2, None)
    # By title, then newest first; each a full movie, the same as its own detail.
    order = [movies[i]["uuid"] for i in (3, 1, 2)]
    assert [m["uuid"] for m in detail["movies"]] == order
    assert detail["movies"][0] == await (await client.get(f"/movies/{order[0]}/")).get_json()
    second = await (
        await client.get(f"/movies/{kind}/{item_id}/", query_string={"per_page": 3, "page": 2})
    ).get_json()
    assert [m["uuid"] for m in second["movies"]] == [movies[0]["uuid"]]
    assert second["next_page"] is None
    beyond = await (
        await client.get(f"/movies/{kind}/{item_id}/", query_string={"page": 9})
    ).get_json()
    assert (beyond["movies"], beyond["prev_page"], beyond["total_items"]) == ([], None, 4)


async def test_certification_detail_lists_its_movies(client, moderator) -> None:
    rating = word(8).upper()
    movie = await create_movie(client, moderator, certification=rating)
    detail = await (
        await client.get(f"/movies/certifications/{movie['certification']['id']}/")
    ).get_json()
    assert (detail["name"], detail["total_movies"]) == (rating, 1)
    assert [m["uuid"] for m in detail["movies"]] == [movie["uuid"]]


@pytest.mark.parametrize("kind", KINDS)
async def test_unknown_ids_are_404(client, moderator, kind: str) -> None:
    paths = [f"/movies/{kind}/{i}/" for i in (2147483000, 2147483648, 10**30, "abc", -1, 0)]
    for path in paths:
        for method, kwargs in (("get", {}), ("patch", {"json": {"name": word()}}), ("delete", {})):
            response = await getattr(client, method)(path, headers=moderator, **kwargs)
            error = await response.get_json()
            assert response.status_code == 404, (method, path, error)
            assert error["error"] in ("name_not_found", "not_found")
    response = await client.get(f"/movies/{kind}/2147483000/")
    assert (await response.get_json())["error"] == "name_not_found"


@pytest.mark.parametrize("kind", KINDS)
async def test_bad_list_parameters_are_named(client, kind: str) -> None:
    for params, named in (
        ({"per_page": 0}, "per_page"),
        ({"per_page": 101}, "per_page"),
        ({"page": "x"}, "page"),
        ({"search": "x" * 101}, "search"),
        ({"name": "x"}, "name"),
    ):
        response = await client.get(f"/movies/{kind}/", query_string=params)
        error = await response.get_json()
        assert (response.status_code, error_fields(error)) == (422, {named}), error
    response = await client.get(f"/movies/{kind}/1/", query_string={"per_page": 0})
    assert response.status_code in (404, 422)


@pytest.mark.parametrize("kind", KINDS)
async def test_rename_validates_like_create(client, moderator, kind: str) -> None:
    created = await create_name(client, moderator, kind, word(8))
    path = f"/movies/{kind}/{created['id']}/"
    for body in ({"name": ""}, {"name": None}, {}, {"name": "x" * 101}, {"name": "a", "b": 1}):
        response = await client.patch(path, json=body, headers=moderator)
        error = await response.get_json()
        assert (response.status_code, error["error"]) == (422, "validation_error"), error
    response = await client.patch(path, json={"name": "  Spaced   Name  "}, headers=moderator)
    renamed = await response.get_json()
    assert response.status_code == 200 and renamed["name"] == "Spaced Name", renamed
