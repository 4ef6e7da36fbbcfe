"""Who may do what: every catalog write needs a moderator or an admin (401 anonymous, 403 for a
plain user, and nothing changes); every catalog read is public."""

from __future__ import annotations

import pytest

from tests.api.catalog_support import (
    KINDS,
    create_movie,
    create_name,
    movie_body,
    unique,
)
from tests.api.commerce_support import put_in_order_history

REFUSED = [("anonymous", 401, "not_authenticated"), ("plain_user", 403, "permission_denied")]


@pytest.fixture
def callers(moderator, admin, plain_user) -> dict[str, dict[str, str]]:
    return {"anonymous": {}, "plain_user": plain_user, "moderator": moderator, "admin": admin}


async def assert_refused(response, status: int, code: str) -> None:
    body = await response.get_json()
    assert (response.status_code, body["error"]) == (status, code), body


async def test_movie_create(client, callers) -> None:
    body = movie_body()
    for who, status, code in REFUSED:
        response = await client.post("/movies/create/", json=body, headers=callers[who])
        await assert_refused(response, status, code)
    # Nothing was created by the refused calls: the same body is still free to create.
    for who in ("moderator", "admin"):
        response = await client.post("/movies/create/", json=body, headers=callers[who])
        assert response.status_code == 201, await response.get_json()
        body = movie_body()


async def test_movie_patch(client, callers) -> None:
    movie = await create_movie(client, callers["moderator"])
    path = f"/movies/{movie['uuid']}/"
    for who, status, code in REFUSED:
        response = await client.patch(path, json={"name": "Hijacked"}, headers=callers[who])
        await assert_refused(response, status, code)
    assert (await (await client.get(path)).get_json())["name"] == movie["name"]
    for who in ("moderator", "admin"):
        new_name = unique(f"Renamed by {who}")
        response = await client.patch(path, json={"name": new_name}, headers=callers[who])
        assert response.status_code == 200, await response.get_json()
        assert (await (await client.get(path)).get_json())["name"] == new_name


async def test_movie_delete(client, callers) -> None:
    movie = await create_movie(client, callers["moderator"])
    path = f"/movies/{movie['uuid']}/"
    for who, status, code in REFUSED:
        await assert_refused(await client.delete(path, headers=callers[who]), status, code)
    assert (await client.get(path)).status_code == 200
    for who in ("moderator", "admin"):
        doomed = await create_movie(client, callers["moderator"])
        response = await client.delete(f"/movies/{doomed['uuid']}/", headers=callers[who])
        assert (response.status_code, (await response.get_json())["outcome"]) == (200, "deleted")
        assert (await client.get(f"/movies/{doomed['uuid']}/")).status_code == 404


async def test_movie_restore(client, stack, callers) -> None:
    archived = []
    for _ in range(2):
        movie = await create_movie(client, callers["moderator"])
        await put_in_order_history(stack, movie["uuid"])
        response = await client.delete(f"/movies/{movie['uuid']}/", headers=callers["moderator"])
        assert (await response.get_json())["outcome"] == "archived"
        archived.append(movie["uuid"])
    for who, status, code in REFUSED:
        path = f"/movies/{archived[0]}/restore/"
        await assert_refused(await client.post(path, headers=callers[who]), status, code)
    assert (await client.get(f"/movies/{archived[0]}/")).status_code == 404  # still archived
    for who, movie_uuid in zip(("moderator", "admin"), archived, strict=True):
        response = await client.post(f"/movies/{movie_uuid}/restore/", headers=callers[who])
        assert response.status_code == 200, await response.get_json()
        assert (await client.get(f"/movies/{movie_uuid}/")).status_code == 200


@pytest.mark.parametrize("kind", KINDS)
async def test_name_create(client, callers, kind: str) -> None:
    name = unique("Name")
    for who, status, code in REFUSED:
        response = await client.post(
            f"/movies/{kind}/create/", json={"name": name}, headers=callers[who]
        )
        await assert_refused(response, status, code)
    for who in ("moderator", "admin"):
        await create_name(client, callers[who], kind, name)  # 201: the refused calls left no row
        name = unique("Name")


@pytest.mark.parametrize("kind", KINDS)
async def test_name_patch(client, callers, kind: str) -> None:
    created = await create_name(client, callers["moderator"], kind, unique("Name"))
    path = f"/movies/{kind}/{created['id']}/"
    for who, status, code in REFUSED:
        response = await client.patch(path, json={"name": unique("X")}, headers=callers[who])
        await assert_refused(response, status, code)
    assert (await (await client.get(path)).get_json())["name"] == created["name"]
    for who in ("moderator", "admin"):
        new_name = unique(f"By {who}")
        response = await client.patch(path, json={"name": new_name}, headers=callers[who])
        assert response.status_code == 200, await response.get_json()
        assert (await (await client.get(path)).get_json())["name"] == new_name


@pytest.mark.parametrize("kind", KINDS)
async def test_name_delete(client, callers, kind: str) -> None:
    created = await create_name(client, callers["moderator"], kind, unique("Name"))
    path = f"/movies/{kind}/{created['id']}/"
    for who, status, code in REFUSED:
        await assert_refused(await client.delete(path, headers=callers[who]), status, code)
    assert (await client.get(path)).status_code == 200
    for who in ("moderator", "admin"):
        doomed = await create_name(client, callers["moderator"], kind, unique("Doomed"))
        response = await client.delete(f"/movies/{kind}/{doomed['id']}/", headers=callers[who])
        assert response.status_code == 200, await response.get_json()
        assert (await client.get(f"/movies/{kind}/{doomed['id']}/")).status_code == 404


async def test_every_read_is_public(client, moderator) -> None:
    movie = await create_movie(client, moderator)
    paths = ["/movies/", f"/movies/{movie['uuid']}/"]
    for kind in ("genres", "stars", "directors"):
        paths += [f"/movies/{kind}/", f"/movies/{kind}/{movie[kind][0]['id']}/"]
    paths += ["/movies/certifications/", f"/movies/certifications/{movie['certification']['id']}/"]
    for path in paths:
        response = await client.get(path)  # no Authorization header at all
        assert response.status_code == 200, (path, await response.get_json())
