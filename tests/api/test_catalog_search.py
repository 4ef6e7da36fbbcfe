"""GET /movies/?search=: full text over title, description, stars and directors; word prefixes
match ("godf" finds "The Godfather"), case and punctuation don't matter, results are ranked by
relevance unless `sort` is given. Every test searches for words of its own."""

from __future__ import annotations

from tests.api.catalog_support import browse, create_movie, create_name, unique, uuids, word


async def test_a_word_prefix_finds_the_title(client, moderator) -> None:
    tag = word()
    movie = await create_movie(client, moderator, name=f"The Godfather{tag} Part II")
    for search in (f"godfather{tag}"[:6], f"GODFATHER{tag}", f"The godfather{tag} part"):
        page = await browse(client, search=search, genre=movie["genres"][0]["name"])
        assert movie["uuid"] in uuids(page), search
    assert uuids(await browse(client, search=f"{tag}xyz")) == []
    # Every word must match (as a prefix): another word rules the movie out.
    assert uuids(await browse(client, search=f"godfather{tag} {word()}")) == []


async def test_case_and_punctuation_do_not_matter(client, moderator) -> None:
    a, b = word(), word()
    movie = await create_movie(client, moderator, name=f"{a.title()}: {b.title()}-Returns!")
    for search in (
        f"{a} {b}",
        f"{a.upper()}:{b.upper()}",
        f"  {a}!!! ({b}) ",
        f"'{a}' & | ! {b}:*",  # tsquery syntax typed by a user is just punctuation
        f"{a}, {b}-returns",
    ):
        assert uuids(await browse(client, search=search)) == [movie["uuid"]], search


async def test_search_matches_stars_directors_and_description(client, moderator) -> None:
    star, director, plot = word(), word(), word()
    movie = await create_movie(
        client,
        moderator,
        stars=[f"Anna {star.title()}"],
        directors=[f"{director.title()} Kubrick"],
        description=f"A tale of {plot} and woe.",
    )
    for search in (star, f"anna {star[:4]}", director[:5], f"{plot} woe", f"{star} {director}"):
        assert uuids(await browse(client, search=search)) == [movie["uuid"]], search


async def test_renaming_a_star_or_director_updates_search(client, moderator) -> None:
    old, new = word(), word()
    star = await create_name(client, moderator, "stars", f"Old {old}")
    movie = await create_movie(client, moderator, stars=[star["name"]])
    assert uuids(await browse(client, search=old)) == [movie["uuid"]]
    response = await client.patch(
        f"/movies/stars/{star['id']}/", json={"name": f"New {new}"}, headers=moderator
    )
    assert response.status_code == 200, await response.get_json()
    assert uuids(await browse(client, search=new)) == [movie["uuid"]]
    assert uuids(await browse(client, search=old)) == []
    # A movie's own edit is searchable at once too.
    other = word()
    path = f"/movies/{movie['uuid']}/"
    response = await client.patch(path, json={"description": other}, headers=moderator)
    assert response.status_code == 200
    assert uuids(await browse(client, search=other)) == [movie["uuid"]]


async def test_title_match_ranks_above_description_match(client, moderator) -> None:
    term = word()
    genre = unique("Ranked")
    # Created in the order that the default sort (newest year first) would show them.
    in_description = await create_movie(
        client, moderator, genres=[genre], year=2020, description=f"Mentions {term} in passing."
    )
    in_star = await create_movie(client, moderator, genres=[genre], year=2015, stars=[term])
    in_title = await create_movie(client, moderator, genres=[genre], year=1950, name=term.title())
    page = await browse(client, search=term)
    assert uuids(page) == [in_title["uuid"], in_star["uuid"], in_description["uuid"]]
    # A sort replaces relevance.
    page = await browse(client, search=term, sort="-year")
    assert uuids(page) == [in_description["uuid"], in_star["uuid"], in_title["uuid"]]
    page = await browse(client, search=term, sort="year")
    assert uuids(page) == [in_title["uuid"], in_star["uuid"], in_description["uuid"]]


async def test_search_combines_with_filters_and_pages(client, moderator) -> None:
    term = word()
    genre = unique("Searched")
    found = [
        (await create_movie(client, moderator, genres=[genre], name=f"{term} {i}", year=2000 + i))
        for i in range(3)
    ]
    await create_movie(client, moderator, name=f"{term} elsewhere")
    page = await browse(client, search=term, genre=genre, year_from=2001, per_page=1)
    assert (page["total_items"], len(page["movies"])) == (2, 1)
    assert "search=" in page["next_page"]
    assert {m["uuid"] for m in found[1:]} >= set(uuids(page))


async def test_searches_without_words(client) -> None:
    """Only punctuation is no search at all (the plain listing), never an error."""
    everything = await browse(client, per_page=1)
    for search in ("", "   ", "!!!", "&|:*()"):
        page = await browse(client, search=search, per_page=1)
        assert page["total_items"] == everything["total_items"], search
