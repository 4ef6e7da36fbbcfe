"""GET /movies/: every filter (0 is a value, names exact in any case, genres all required), every
sort field both ways, multi-key sorts and the documented default order. Each test works on its
own movies, found through a genre of its own."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.catalog_support import browse, create_movie, names, unique, uuids


@pytest.fixture(scope="module")
async def shelf(client, moderator) -> dict[str, Any]:
    """Three movies under their own genre, with stars, directors and ratings to filter on."""
    genre, extra = unique("Shelf"), unique("Extra")
    stars, directors = [unique("Star") for _ in range(2)], [unique("Director") for _ in range(2)]
    ratings = [unique("Rated") for _ in range(2)]
    specs: list[dict[str, Any]] = [
        dict(year=1990, imdb=6.0, price="0.00", s=0, d=0, c=0, extra=False),
        dict(year=2000, imdb=7.5, price="5.00", s=1, d=1, c=1, extra=True),
        dict(year=2010, imdb=9.0, price="12.50", s=0, d=1, c=0, extra=True),
    ]
    movies = []
    for spec in specs:
        movie = await create_movie(
            client,
            moderator,
            year=spec["year"],
            imdb=spec["imdb"],
            price=spec["price"],
            genres=[genre, extra] if spec["extra"] else [genre],
            stars=[stars[spec["s"]]],
            directors=[directors[spec["d"]]],
            certification=ratings[spec["c"]],
        )
        movies.append(movie["uuid"])
    return {
        "genre": genre,
        "extra": extra,
        "stars": stars,
        "directors": directors,
        "ratings": ratings,
        "movies": movies,
    }


FILTERS = [
    ({"year": 2000}, [1]),
    ({"year": 0}, []),  # 0 is a value (W41), not "no filter"
    ({"year_from": 2000}, [1, 2]),
    ({"year_to": 2000}, [0, 1]),
    ({"year_from": 1995, "year_to": 2005}, [1]),
    ({"imdb_min": 7.5}, [1, 2]),
    ({"imdb_max": 7.5}, [0, 1]),
    ({"imdb_min": 0}, [0, 1, 2]),
    ({"imdb_min": 6.5, "imdb_max": 9.5}, [1, 2]),
    ({"price_max": 0}, [0]),  # free movies
    ({"price_min": 0}, [0, 1, 2]),
    ({"price_min": "5.00"}, [1, 2]),
    ({"price_min": 1, "price_max": 5}, [1]),
]


@pytest.mark.parametrize(("params", "expected"), FILTERS)
async def test_range_filters(client, shelf, params, expected) -> None:
    page = await browse(client, genre=shelf["genre"], sort="year", **params)
    assert uuids(page) == [shelf["movies"][i] for i in expected]
    assert page["total_items"] == len(expected)


async def test_name_filters_are_exact_and_ignore_case(client, shelf) -> None:
    genre, movies = shelf["genre"], shelf["movies"]
    cases = [
        ({"star": shelf["stars"][0].upper()}, [0, 2]),
        ({"star": shelf["stars"][1].lower()}, [1]),
        ({"director": shelf["directors"][1].swapcase()}, [1, 2]),
        ({"certification": shelf["ratings"][0].lower()}, [0, 2]),
        ({"certification": f"  {shelf['ratings'][1]}  "}, [1]),
        ({"star": shelf["stars"][0][:-1]}, []),  # a prefix is not the name
        ({"director": shelf["directors"][0] + "x"}, []),
        ({"star": "%"}, []),
    ]
    for params, expected in cases:
        page = await browse(client, genre=genre, sort="year", **params)
        assert uuids(page) == [movies[i] for i in expected], params


async def test_repeated_genre_requires_all_of_them(client, shelf) -> None:
    genre, extra, movies = shelf["genre"], shelf["extra"], shelf["movies"]
    page = await browse(client, genre=[genre.upper(), extra.lower()], sort="year")
    assert uuids(page) == movies[1:]
    assert uuids(await browse(client, genre=extra, sort="year")) == movies[1:]
    assert uuids(await browse(client, genre=genre[:-3], sort="year")) == []
    assert uuids(await browse(client, genre=[genre, unique("Nowhere")])) == []


async def test_filters_combine(client, shelf) -> None:
    page = await browse(
        client,
        genre=shelf["genre"],
        star=shelf["stars"][0],
        year_from=2000,
        certification=shelf["ratings"][0],
    )
    assert uuids(page) == [shelf["movies"][2]]


SORT_VALUES: dict[str, list[Any]] = {  # three movies, each field ordering them differently
    "name": ["Bravo", "alpha", "Charlie"],
    "year": [2001, 1999, 2005],
    "imdb": [5.5, 8.0, 6.1],
    "price": ["3.00", "1.50", "20.00"],
    "votes": [300, 20_000, 100],
    "time": [95, 200, 150],
    "meta_score": [40, 90, 65],
    "gross": [10.5, 5.0, 7_000_000.0],
}
ASCENDING = {
    "name": [1, 0, 2],  # case-insensitive: alpha, Bravo, Charlie
    "year": [1, 0, 2],
    "imdb": [0, 2, 1],
    "price": [1, 0, 2],
    "votes": [2, 0, 1],
    "time": [0, 2, 1],
    "meta_score": [0, 2, 1],
    "gross": [1, 0, 2],
}


@pytest.fixture(scope="module")
async def sortable(client, moderator) -> tuple[str, list[str]]:
    genre, movies = unique("Sortable"), []
    tag = unique("")
    for i in range(3):
        values = {field: SORT_VALUES[field][i] for field in SORT_VALUES}
        values["name"] = f"{values['name']}{tag}"
        movies.append((await create_movie(client, moderator, genres=[genre], **values))["uuid"])
    return genre, movies


@pytest.mark.parametrize("field", list(ASCENDING))
async def test_each_sort_field_both_ways(client, sortable, field: str) -> None:
    genre, movies = sortable
    expected = [movies[i] for i in ASCENDING[field]]
    assert uuids(await browse(client, genre=genre, sort=field)) == expected
    assert uuids(await browse(client, genre=genre, sort=f"+{field}")) == expected
    assert uuids(await browse(client, genre=genre, sort=f"-{field}")) == expected[::-1]


async def test_sort_by_creation(client, sortable) -> None:
    genre, movies = sortable
    assert uuids(await browse(client, genre=genre, sort="created")) == movies
    assert uuids(await browse(client, genre=genre, sort="-created")) == movies[::-1]


async def test_missing_values_sort_last_both_ways(client, moderator) -> None:
    genre = unique("Sparse")
    scored = await create_movie(client, moderator, genres=[genre], meta_score=50, gross=1.0)
    bare = await create_movie(client, moderator, genres=[genre], meta_score=None, gross=None)
    for sort in ("meta_score", "-meta_score", "gross", "-gross"):
        assert uuids(await browse(client, genre=genre, sort=sort)) == [
            scored["uuid"],
            bare["uuid"],
        ], sort


async def test_multi_key_sort(client, moderator) -> None:
    genre = unique("MultiKey")
    rows = [(2000, 7.0, "9.00"), (2000, 8.0, "1.00"), (1990, 9.0, "5.00"), (1990, 9.0, "2.00")]
    movies = [
        (await create_movie(client, moderator, genres=[genre], year=y, imdb=i, price=p))["uuid"]
        for y, i, p in rows
    ]
    page = await browse(client, genre=genre, sort="-year,-imdb")
    assert uuids(page) == [movies[1], movies[0], movies[2], movies[3]]  # ties: by creation
    page = await browse(client, genre=genre, sort="year,imdb,price")
    assert uuids(page) == [movies[3], movies[2], movies[0], movies[1]]
    page = await browse(client, genre=genre, sort=" price , -year ")
    assert uuids(page) == [movies[1], movies[3], movies[2], movies[0]]


async def test_default_order_is_newest_release_then_title(client, moderator) -> None:
    """Documented in api/movies.py: -year,name, then creation (id)."""
    genre, tag = unique("Default"), unique("")
    specs = [(2001, "beta"), (2011, "Zulu"), (2001, "Alpha"), (1970, "Able"), (2011, "alpha")]
    movies = [
        (await create_movie(client, moderator, genres=[genre], year=y, name=n + tag))["name"]
        for y, n in specs
    ]
    page = await browse(client, genre=genre)
    assert names(page) == [movies[i] for i in (4, 1, 2, 0, 3)]
