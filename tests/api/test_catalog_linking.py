"""Names in a movie body are matched exactly (trimmed, any case), never by substring (W24);
duplicate names are a 409 naming the field, never a 500 (W25), also when two creates race."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from domain.db import transaction
from tests.api.catalog_support import (
    KINDS,
    create_movie,
    create_name,
    error_fields,
    movie_body,
    unique,
    word,
)

LINKED = ("genres", "stars", "directors")


async def test_a_name_never_links_to_a_longer_one(client, moderator) -> None:
    tag = word(6).title()
    comedy = await create_name(client, moderator, "genres", f"Action{tag} Comedy")
    hanks = await create_name(client, moderator, "stars", f"Tom{tag} Hanks")
    melodrama = await create_name(client, moderator, "genres", f"Melodrama{tag}")
    rated = await create_name(client, moderator, "certifications", f"R{tag}-Restricted")
    movie = await create_movie(
        client,
        moderator,
        genres=[f"Action{tag}", f"Drama{tag}"],
        stars=[f"Tom{tag}"],
        certification=f"R{tag}",
    )
    assert {g["name"] for g in movie["genres"]} == {f"Action{tag}", f"Drama{tag}"}
    assert not {g["id"] for g in movie["genres"]} & {comedy["id"], melodrama["id"]}
    assert [s["name"] for s in movie["stars"]] == [f"Tom{tag}"]
    assert movie["stars"][0]["id"] != hanks["id"]
    assert movie["certification"]["name"] == f"R{tag}"
    assert movie["certification"]["id"] != rated["id"]
    # The longer names are still used by nobody.
    for kind, item in (("genres", comedy), ("stars", hanks), ("certifications", rated)):
        detail = await (await client.get(f"/movies/{kind}/{item['id']}/")).get_json()
        assert detail["total_movies"] == 0, detail


@pytest.mark.parametrize("kind", LINKED)
async def test_exact_name_in_any_case_reuses_the_row(client, moderator, kind: str) -> None:
    existing = await create_name(client, moderator, kind, unique("Name"))
    spelled = f"  {existing['name'].upper().replace(' ', '   ')} "
    movie = await create_movie(client, moderator, **{kind: [spelled]})
    assert movie[kind] == [{"id": existing["id"], "name": existing["name"]}]


async def test_wildcards_in_a_name_are_literal(client, moderator) -> None:
    tag = word(6)
    await create_name(client, moderator, "genres", f"{tag}-anything")
    movie = await create_movie(client, moderator, genres=[f"{tag}%", f"{tag}_"])
    assert sorted(g["name"] for g in movie["genres"]) == [f"{tag}%", f"{tag}_"]


@pytest.mark.parametrize("kind", KINDS)
async def test_duplicate_names_are_409_naming_the_field(client, moderator, kind: str) -> None:
    taken = await create_name(client, moderator, kind, unique("Taken Name"))
    for variant in (taken["name"], taken["name"].lower(), f" {taken['name'].upper()}  "):
        response = await client.post(
            f"/movies/{kind}/create/", json={"name": variant}, headers=moderator
        )
        error = await response.get_json()
        assert (response.status_code, error["error"]) == (409, "name_taken"), error
        assert error_fields(error) == {"name"}
    other = await create_name(client, moderator, kind, unique("Other Name"))
    path = f"/movies/{kind}/{other['id']}/"
    response = await client.patch(path, json={"name": taken["name"].swapcase()}, headers=moderator)
    error = await response.get_json()
    assert (response.status_code, error["error"]) == (409, "name_taken"), error
    assert error_fields(error) == {"name"}
    assert (await (await client.get(path)).get_json())["name"] == other["name"]
    # Renaming to another case of its own name is allowed.
    response = await client.patch(path, json={"name": other["name"].upper()}, headers=moderator)
    assert (response.status_code, (await response.get_json())["name"]) == (
        200,
        other["name"].upper(),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_invalid_names_are_422(client, moderator, kind: str) -> None:
    for body in ({"name": ""}, {"name": "  "}, {"name": 5}, {"name": "x" * 101}, {}, {"x": "y"}):
        response = await client.post(f"/movies/{kind}/create/", json=body, headers=moderator)
        error = await response.get_json()
        assert (response.status_code, error["error"]) == (422, "validation_error"), (body, error)
        assert error_fields(error) == set(body) | {"name"}


@pytest.mark.parametrize("kind", KINDS)
async def test_two_concurrent_creates_one_wins(client, moderator, kind: str) -> None:
    name = unique("Race")
    responses = await asyncio.gather(
        *(
            client.post(f"/movies/{kind}/create/", json={"name": n}, headers=moderator)
            for n in (name, name.upper())
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 409]
    [loser] = [r for r in responses if r.status_code == 409]
    assert (await loser.get_json())["error"] == "name_taken"
    listed = await (await client.get(f"/movies/{kind}/", query_string={"search": name})).get_json()
    assert listed["total_items"] == 1


async def test_two_concurrent_movie_creates_one_wins(client, moderator) -> None:
    body = movie_body(genres=[unique("New Genre")], certification=unique("New Rating"))
    responses = await asyncio.gather(
        *(client.post("/movies/create/", json=body, headers=moderator) for _ in range(2))
    )
    assert sorted(r.status_code for r in responses) == [201, 409]
    [loser] = [r for r in responses if r.status_code == 409]
    assert (await loser.get_json())["error"] == "movie_exists"
    found = await (await client.get("/movies/", query_string={"search": body["name"]})).get_json()
    assert found["total_items"] == 1


async def test_concurrent_creates_sharing_new_names_in_any_order(client, moderator) -> None:
    """Movies that create the same new names, listed in opposite orders, all succeed."""
    for _ in range(3):
        shared = [unique("Shared") for _ in range(40)]
        bodies = [
            movie_body(genres=shared, stars=shared, directors=shared),
            movie_body(genres=shared[::-1], stars=shared[::-1], directors=shared[::-1]),
            movie_body(genres=shared[1::2], stars=shared[::2], directors=shared[::3]),
        ]
        responses = await asyncio.gather(
            *(client.post("/movies/create/", json=b, headers=moderator) for b in bodies)
        )
        assert [r.status_code for r in responses] == [201] * 3, [
            await r.get_json() for r in responses
        ]
        created = [await r.get_json() for r in responses]
        assert {g["id"] for g in created[0]["genres"]} == {g["id"] for g in created[1]["genres"]}


async def test_names_outside_ascii(client, stack, moderator) -> None:
    """Names outside ASCII never answer a 500, and every route agrees on which spellings are
    one name: the database's lower(), which the unique index uses (how far it folds case
    outside ASCII is the server's locale: the test cluster's C locale folds ASCII only)."""
    tag = word(5)
    for name in (f"Émile {tag}", f"İstanbul {tag}", f"STRASSE ß {tag}", f"Ωμέγα {tag}"):
        movie = await create_movie(client, moderator, genres=[name], stars=[name])
        assert [g["name"] for g in movie["genres"]] == [name]
        same = await create_movie(client, moderator, genres=[name], stars=[name.lower()])
        assert same["genres"] == movie["genres"]
        async with transaction(stack.sessions) as session:
            folds = await session.scalar(
                text("SELECT lower(:a) = lower(:b)"), {"a": name, "b": name.lower()}
            )
        assert (same["stars"] == movie["stars"]) is folds
        response = await client.post(
            "/movies/genres/create/", json={"name": name.lower()}, headers=moderator
        )
        assert response.status_code == (409 if folds else 201), await response.get_json()
        page = await (await client.get("/movies/", query_string={"genre": name})).get_json()
        assert {m["uuid"] for m in page["movies"]} == {movie["uuid"], same["uuid"]}
