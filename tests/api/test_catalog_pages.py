"""GET /movies/ pages: per_page bounds, links that keep every filter and the sort (W37), no link
past the end, an empty page out of range, bad parameters named in a 422, and a walk over many
movies that tie on the sort key which never repeats or skips one (W38)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api.catalog_support import browse, create_movie, error_fields, unique, uuids, word


@pytest.fixture(scope="module")
async def ties(client, moderator) -> tuple[str, list[str], str]:
    """25 movies equal on every sort key but name and creation, under their own genre and with
    a word of their own in the title."""
    genre, tag = unique("Ties"), word()
    movies = []
    for _ in range(25):
        movie = await create_movie(
            client,
            moderator,
            genres=[genre],
            year=2005,
            imdb=7.0,
            price="3.00",
            votes=10,
            time=100,
            meta_score=None,
            gross=None,
            name=unique(f"Same Title {tag}"),
        )
        movies.append(movie["uuid"])
    return genre, movies, tag


def query_of(link: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(link).query)


async def walk(client, first: dict[str, object]) -> list[str]:
    """Every movie, following next_page links from the first page."""
    seen: list[str] = []
    page = await browse(client, **first)
    while True:
        seen += uuids(page)
        if page["next_page"] is None:
            return seen
        parts = urlsplit(page["next_page"])
        response = await client.get(f"{parts.path}?{parts.query}")
        page = await response.get_json()
        assert response.status_code == 200, page


@pytest.mark.parametrize("sort", [None, "year", "-imdb", "price,-votes", "meta_score", "-gross"])
async def test_pages_never_repeat_or_skip_a_movie(client, ties, sort) -> None:
    genre, movies, _ = ties
    params: dict[str, object] = {"genre": genre, "per_page": 7}
    if sort is not None:
        params["sort"] = sort
    seen = await walk(client, params)
    assert len(seen) == len(set(seen)) == 25
    assert set(seen) == set(movies)
    one_page = await browse(client, **{**params, "per_page": 100})
    assert seen == uuids(one_page)


async def test_edits_between_pages_do_not_reorder_ties(client, moderator, ties) -> None:
    """Editing a movie rewrites its row elsewhere in the table; ties must not follow the rows."""
    _, movies, tag = ties
    # A search reads the rows found by its index in their order in the table.
    for sort in ("year", "-meta_score", "price,time"):
        params: dict[str, object] = {"search": tag, "per_page": 7, "sort": sort}
        seen: list[str] = []
        for number in range(1, 5):
            page = await browse(client, **params, page=number)
            seen += uuids(page)
            for movie_uuid in uuids(page):  # a change that no sort key depends on
                response = await client.patch(
                    f"/movies/{movie_uuid}/",
                    json={"description": unique("Edited")},
                    headers=moderator,
                )
                assert response.status_code == 200
        assert sorted(seen) == sorted(movies), sort


async def test_totals_and_the_last_page(client, ties) -> None:
    genre, _, _ = ties
    page = await browse(client, genre=genre, per_page=7, page=4)
    assert (len(page["movies"]), page["total_items"], page["total_pages"]) == (4, 25, 4)
    assert page["next_page"] is None
    assert query_of(page["prev_page"])["page"] == ["3"]
    first = await browse(client, genre=genre, per_page=7)
    assert first["prev_page"] is None
    assert query_of(first["next_page"])["page"] == ["2"]
    assert len((await browse(client, genre=genre))["movies"]) == 20  # default per_page


async def test_a_page_out_of_range_is_empty(client, ties) -> None:
    genre, _, _ = ties
    for page_number in (5, 1000):
        page = await browse(client, genre=genre, per_page=7, page=page_number)
        assert page == {
            "movies": [],
            "prev_page": None,
            "next_page": None,
            "total_pages": 4,
            "total_items": 25,
        }
    empty = await browse(client, genre=unique("Nothing"))
    assert (empty["movies"], empty["total_pages"], empty["prev_page"]) == ([], 0, None)


async def test_links_keep_every_filter_and_the_sort(client, ties) -> None:
    genre, _, _ = ties
    params = {
        "genre": [genre, genre.upper()],
        "year_from": 2000,
        "year_to": 2010,
        "imdb_min": 1,
        "price_max": "50",
        "sort": "-imdb,name",
        "per_page": 5,
        "page": 2,
    }
    page = await browse(client, **params)
    assert len(page["movies"]) == 5
    for link, number in ((page["prev_page"], "1"), (page["next_page"], "3")):
        parts = urlsplit(link)
        assert (parts.scheme, parts.netloc, parts.path) == ("http", "cinema.test", "/movies/")
        query = query_of(link)
        assert query.pop("page") == [number]
        assert query == {
            "genre": [genre, genre.upper()],
            "year_from": ["2000"],
            "year_to": ["2010"],
            "imdb_min": ["1"],
            "price_max": ["50"],
            "sort": ["-imdb,name"],
            "per_page": ["5"],
        }


async def test_per_page_bounds(client, ties) -> None:
    genre, _, _ = ties
    assert len((await browse(client, genre=genre, per_page=1))["movies"]) == 1
    assert len((await browse(client, genre=genre, per_page=100))["movies"]) == 25


BAD = [
    ({"per_page": 0}, "per_page"),
    ({"per_page": 101}, "per_page"),
    ({"per_page": "many"}, "per_page"),
    ({"page": 0}, "page"),
    ({"page": -1}, "page"),
    ({"sort": "rating"}, "sort"),
    ({"sort": "year,-year"}, "sort"),
    ({"sort": ""}, "sort"),
    ({"sort": "name;drop"}, "sort"),
    ({"imdb_min": "abc"}, "imdb_min"),
    ({"imdb_max": 11}, "imdb_max"),
    ({"imdb_min": "nan"}, "imdb_min"),
    ({"year": "1999a"}, "year"),
    ({"year": [1999, 2000]}, "year"),
    ({"year_from": -5}, "year_from"),
    ({"year_from": 41767}, "year_from"),  # past the column's range: a 422, not a 500
    ({"year_to": 10**30}, "year_to"),
    ({"price_min": "-1"}, "price_min"),
    ({"price_max": "cheap"}, "price_max"),
    ({"price_max": "1e1000000"}, "price_max"),
    ({"star": ""}, "star"),
    ({"genre": "   "}, "genre"),
    ({"search": "x" * 201}, "search"),
    ({"yaer": 1999}, "yaer"),
    ({"imdb": 7}, "imdb"),  # the reference's exact-float filter is gone: unknown, not ignored
]


@pytest.mark.parametrize(("params", "named"), BAD)
async def test_bad_parameters_are_named(client, params, named) -> None:
    response = await client.get("/movies/", query_string=params)
    error = await response.get_json()
    assert (response.status_code, error["error"]) == (422, "validation_error"), error
    assert error_fields(error) == {named}, error
    assert all(f["loc"][0] == "query" for f in error["fields"])
