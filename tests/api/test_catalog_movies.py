"""Movie create/read/patch/delete: the happy paths and every error, with its code and the field
it names. PATCH is validated like a create and nothing invalid is ever written (W23)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from tests.api.catalog_support import (
    browse,
    create_movie,
    create_name,
    error_fields,
    movie_body,
    unique,
    word,
)

NEXT_YEAR = datetime.now(UTC).year + 1


async def test_create_returns_the_movie_as_stored(client, moderator) -> None:
    certification = await create_name(client, moderator, "certifications", unique("Rated"))
    genre = unique("Sci-Fi")
    body = movie_body(
        name="  Spaced   Out  Title " + word(),
        genres=[genre, genre.upper(), f"  {genre.lower()}  ", " Adventure "],
        certification=certification["name"].lower(),
    )
    response = await client.post("/movies/create/", json=body, headers=moderator)
    movie = await response.get_json()
    assert response.status_code == 201, movie
    assert movie["name"] == " ".join(body["name"].split())  # trimmed, case kept
    assert [g["name"] for g in movie["genres"]] == ["Adventure", genre]  # one, as first given
    assert movie["certification"] == {k: certification[k] for k in ("id", "name")}  # any case
    assert (movie["price"], movie["year"], movie["archived_at"]) == ("9.99", 1999, None)
    assert "id" not in movie
    response = await client.get(f"/movies/{movie['uuid']}/")
    assert (response.status_code, await response.get_json()) == (200, movie)


async def test_optional_fields_default(client, moderator) -> None:
    body = movie_body()
    for key in ("votes", "meta_score", "gross", "description", "genres", "directors", "stars"):
        del body[key]
    response = await client.post("/movies/create/", json=body, headers=moderator)
    movie = await response.get_json()
    assert response.status_code == 201, movie
    assert (movie["votes"], movie["meta_score"], movie["gross"], movie["description"]) == (
        0,
        None,
        None,
        "",
    )
    assert movie["genres"] == movie["stars"] == movie["directors"] == []


INVALID = [
    ("name", ""),
    ("name", "   "),
    ("name", None),
    ("name", 42),
    ("name", "x" * 251),
    ("year", 1500),
    ("year", NEXT_YEAR + 1),
    ("year", "nineteen"),
    ("time", 0),
    ("imdb", 50),
    ("imdb", 0.5),
    ("votes", -1),
    ("meta_score", 101),
    ("gross", -1),
    ("price", "-3"),
    ("price", "1.999"),
    ("certification", ""),
    ("certification", 7),
    ("genres", [""]),
    ("genres", "Drama"),
    ("stars", ["x" * 101]),
    ("directors", [None]),
    ("description", "x" * 10_001),
]


@pytest.mark.parametrize(("field", "value"), INVALID)
async def test_create_rejects_an_invalid_field(client, moderator, field, value) -> None:
    body = movie_body(**{field: value})
    response = await client.post("/movies/create/", json=body, headers=moderator)
    error = await response.get_json()
    assert (response.status_code, error["error"]) == (422, "validation_error"), error
    assert error_fields(error) == {field}, error
    # Nothing was written: the name is free for a valid create.
    if field != "name":
        await create_movie(client, moderator, name=body["name"])


async def test_create_rejects_missing_and_unknown_fields(client, moderator) -> None:
    body = movie_body(director="Someone")
    del body["price"]
    response = await client.post("/movies/create/", json=body, headers=moderator)
    error = await response.get_json()
    assert (response.status_code, error["error"]) == (422, "validation_error")
    assert error_fields(error) == {"price", "director"}


async def test_create_rejects_a_body_that_is_not_an_object(client, moderator) -> None:
    response = await client.post("/movies/create/", json=[movie_body()], headers=moderator)
    error = await response.get_json()
    assert (response.status_code, error["error"]) == (422, "validation_error"), error


async def test_duplicate_name_and_year_is_409_naming_the_fields(client, moderator) -> None:
    movie = await create_movie(client, moderator)
    for name in (movie["name"], movie["name"].upper(), f"  {movie['name'].lower()} "):
        response = await client.post(
            "/movies/create/", json=movie_body(name=name, time=90), headers=moderator
        )
        error = await response.get_json()
        assert (response.status_code, error["error"]) == (409, "movie_exists"), error
        assert error_fields(error) == {"name", "year"}
    # A remake: the same title in another year is another movie.
    remake = await create_movie(client, moderator, name=movie["name"], year=2024)
    assert remake["uuid"] != movie["uuid"]


async def test_unknown_and_malformed_movie_ids_are_404(client, moderator) -> None:
    for path in (f"/movies/{uuid4()}/", "/movies/not-a-uuid/"):
        for method in ("get", "patch", "delete"):
            kwargs = {"json": {"imdb": 5}} if method == "patch" else {}
            response = await getattr(client, method)(path, headers=moderator, **kwargs)
            error = await response.get_json()
            assert response.status_code == 404, (method, path, error)
            assert error["error"] in ("movie_not_found", "not_found")
        response = await client.post(f"{path}restore/", headers=moderator)
        assert response.status_code == 404
    response = await client.get(f"/movies/{uuid4()}/")
    assert (await response.get_json())["error"] == "movie_not_found"


async def test_patch_changes_only_what_is_sent(client, moderator) -> None:
    movie = await create_movie(client, moderator, genres=["Drama", "Crime"])
    path = f"/movies/{movie['uuid']}/"
    star = unique("New Star")
    response = await client.patch(
        path,
        json={"price": "4.50", "stars": [star], "genres": [], "gross": None},
        headers=moderator,
    )
    patched = await response.get_json()
    assert response.status_code == 200, patched
    assert (patched["price"], patched["gross"], patched["genres"]) == ("4.50", None, [])
    assert [s["name"] for s in patched["stars"]] == [star]
    unchanged = {"name", "year", "time", "imdb", "votes", "description", "directors"}
    assert {k: patched[k] for k in unchanged} == {k: movie[k] for k in unchanged}
    assert (await (await client.get(path)).get_json()) == patched


PATCH_INVALID = [
    ({"imdb": 50}, {"imdb"}),
    ({"price": -3}, {"price"}),
    ({"year": 1500}, {"year"}),
    ({"name": None}, {"name"}),
    ({"name": ""}, {"name"}),
    ({"time": 0}, {"time"}),
    ({"certification": None}, {"certification"}),
    ({"genres": None}, {"genres"}),
    ({"votes": None}, {"votes"}),
    ({"meta_score": 100.5}, {"meta_score"}),
    ({"unknown": 1}, {"unknown"}),
    ({"imdb": 8.0, "price": "-0.01"}, {"price"}),  # one bad field: the good one isn't applied
]


@pytest.mark.parametrize(("patch", "named"), PATCH_INVALID)
async def test_invalid_patch_is_422_and_changes_nothing(client, moderator, patch, named) -> None:
    genre = unique("Genre")
    movie = await create_movie(client, moderator, genres=[genre])
    path = f"/movies/{movie['uuid']}/"
    response = await client.patch(path, json=patch, headers=moderator)
    error = await response.get_json()
    assert (response.status_code, error["error"]) == (422, "validation_error"), error
    assert error_fields(error) == named
    response = await client.get(path)
    assert (response.status_code, await response.get_json()) == (200, movie)
    assert [m["uuid"] for m in (await browse(client, genre=genre))["movies"]] == [movie["uuid"]]
    assert (await browse(client))["total_items"] >= 1  # the catalog still reads (W23)


async def test_patch_into_an_existing_name_and_year_is_409(client, moderator) -> None:
    first = await create_movie(client, moderator, year=2001)
    second = await create_movie(client, moderator, year=2002)
    path = f"/movies/{second['uuid']}/"
    for patch in (
        {"name": first["name"].upper(), "year": 2001},
        {"name": first["name"], "year": 2001, "imdb": 9.9},
    ):
        response = await client.patch(path, json=patch, headers=moderator)
        error = await response.get_json()
        assert (response.status_code, error["error"]) == (409, "movie_exists"), error
        assert error_fields(error) == {"name", "year"}
        assert (await (await client.get(path)).get_json()) == second
    # Only the name, or only the year, matching is no conflict.
    response = await client.patch(path, json={"name": first["name"]}, headers=moderator)
    assert response.status_code == 200, await response.get_json()
    response = await client.patch(path, json={"year": 2001}, headers=moderator)
    assert response.status_code == 409
    # Re-saving a movie with its own name and year (another case) is no conflict either.
    response = await client.patch(path, json={"name": first["name"].lower()}, headers=moderator)
    assert (response.status_code, (await response.get_json())["year"]) == (200, 2002)


async def test_patch_of_a_deleted_movie_is_404(client, moderator) -> None:
    movie = await create_movie(client, moderator)
    path = f"/movies/{movie['uuid']}/"
    assert (await client.delete(path, headers=moderator)).status_code == 200
    response = await client.patch(path, json={"imdb": 5}, headers=moderator)
    assert (response.status_code, (await response.get_json())["error"]) == (404, "movie_not_found")
    response = await client.delete(path, headers=moderator)
    assert (response.status_code, (await response.get_json())["error"]) == (404, "movie_not_found")


async def test_delete_removes_the_movie_and_its_links(client, moderator) -> None:
    genre, star = unique("Genre"), unique("Star")
    movie = await create_movie(client, moderator, genres=[genre], stars=[star])
    response = await client.delete(f"/movies/{movie['uuid']}/", headers=moderator)
    body = await response.get_json()
    assert (response.status_code, body["outcome"]) == (200, "deleted"), body
    assert body["message"]
    for kind, item in (("genres", movie["genres"][0]), ("stars", movie["stars"][0])):
        detail = await (await client.get(f"/movies/{kind}/{item['id']}/")).get_json()
        assert (detail["total_movies"], detail["movies"]) == (0, [])
        # Unused now, so it can be deleted (its link rows are gone).
        response = await client.delete(f"/movies/{kind}/{item['id']}/", headers=moderator)
        assert response.status_code == 200, await response.get_json()


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/movies/create/"), ("post", "/movies/genres/create/"), ("patch", "movie")],
)
async def test_bodies_that_are_not_json_objects(client, moderator, method, path) -> None:
    """Not JSON at all is a 400; JSON of another shape is a 422 like any invalid body."""
    if path == "movie":
        path = f"/movies/{(await create_movie(client, moderator))['uuid']}/"
    send = getattr(client, method)
    for data, content_type, status, code in (
        (b'{"name": "x",', "application/json", 400, "malformed_json"),
        (b"name=x", "application/x-www-form-urlencoded", 400, "invalid_body"),
        (b'"just a string"', "application/json", 422, "validation_error"),
    ):
        response = await send(path, data=data, headers={**moderator, "Content-Type": content_type})
        error = await response.get_json()
        assert (response.status_code, error["error"]) == (status, code), (data, error)


async def test_a_bad_token_is_401_even_on_a_public_read(client, moderator) -> None:
    movie = await create_movie(client, moderator)
    bad = {"Authorization": "Bearer not-a-token"}
    for response in (
        await client.get(f"/movies/{movie['uuid']}/", headers=bad),
        await client.post("/movies/create/", json=movie_body(), headers=bad),
    ):
        error = await response.get_json()
        assert (response.status_code, error["error"]) == (401, "invalid_token"), error
