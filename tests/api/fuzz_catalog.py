"""The catalog's part of the fuzz test (tests/api/test_fuzz.py).

Catalog writes need a moderator, so they are sent with a moderator's token (except in the cases
where Schemathesis deliberately breaks or drops the Authorization header), and positive cases
sometimes carry real ids and taken names, so that they reach the services past the 404s:
PATCH/DELETE/restore of real movies (one of them archived, through a stand-in order line), the
details of real genres, stars, directors and certifications, and 409s on names and (name, year).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from quart.typing import TestClientProtocol
from schemathesis import Case

from tests.api.catalog_support import (
    KINDS,
    create_movie,
    create_name,
    word,
)
from tests.api.commerce_support import put_in_order_history
from tests.conftest import Stack

TOKEN_MAX_AGE = 300.0  # seconds; access tokens live 15 minutes


def is_staff_write(method: str, path: str) -> bool:
    return path.startswith("/movies/") and method.upper() not in ("GET", "HEAD", "OPTIONS")


@dataclass
class StaffToken:
    """A moderator's access token, renewed before it can expire during a long run."""

    login: Callable[[], str]
    token: str = ""
    obtained: float = field(default=-TOKEN_MAX_AGE)

    def header(self) -> str:
        if time.monotonic() - self.obtained >= TOKEN_MAX_AGE:
            self.token, self.obtained = self.login(), time.monotonic()
        return f"Bearer {self.token}"


@dataclass
class CatalogPool:
    """Real rows for the fuzzer to aim at."""

    movies: list[dict[str, Any]]  # never deleted by the fuzzer: the targets of reads and edits
    doomed: list[dict[str, Any]]  # the targets of DELETE (the first one archived, not deleted)
    names: dict[str, list[tuple[int, str]]]  # in use
    unused: dict[str, list[tuple[int, str]]]  # deletable

    def concrete(self, path: str) -> str:
        """An OpenAPI path template with the ids of a live movie and of real names."""
        kind = path.split("/")[2] if path.count("/") > 2 else ""
        name_id = self.names[kind][-1][0] if kind in self.names else 0
        # Other ids (the admin routes' order and user ids) need not exist: the body is tested.
        return path.format(
            movie_uuid=self.movies[-1]["uuid"], name_id=name_id, order_id=1, user_id=1
        )

    def realistic(self, case: Case, data: st.DataObject) -> None:
        """Sometimes swap generated ids and names for real ones (positive cases only)."""
        params = case.path_parameters or {}
        deleting = case.method.upper() == "DELETE"
        if "movie_uuid" in params and data.draw(st.booleans(), label="real movie"):
            movies = self.doomed if deleting else self.movies
            params["movie_uuid"] = data.draw(st.sampled_from(movies), label="movie")["uuid"]
        kind = case.operation.path.split("/")[2]
        if "name_id" in params and kind in self.names and data.draw(st.booleans(), label="id"):
            names = self.unused[kind] + self.names[kind] if deleting else self.names[kind]
            params["name_id"] = data.draw(st.sampled_from(names), label="name")[0]
        body = case.body
        if not isinstance(body, dict) or not data.draw(st.booleans(), label="taken name"):
            return
        if kind in self.names and "name" in body:
            body["name"] = data.draw(st.sampled_from(self.names[kind]), label="taken")[1].upper()
        elif "name" in body or "year" in body:
            movie = data.draw(st.sampled_from(self.movies), label="movie taken")
            body.update(name=movie["name"], year=movie["year"])
        for linked in ("genres", "stars", "directors"):
            if isinstance(body.get(linked), list):
                body[linked] = [name for _, name in self.names[linked]]


async def make_pool(
    client: TestClientProtocol, stack: Stack, moderator: dict[str, str]
) -> CatalogPool:
    movies = [await create_movie(client, moderator, name=f"Fuzz {word()}") for _ in range(12)]
    # The first is archived: a target of restore (then of edits and reads) and of a DELETE's 404.
    await put_in_order_history(stack, movies[0]["uuid"])
    response = await client.delete(f"/movies/{movies[0]['uuid']}/", headers=moderator)
    assert (await response.get_json())["outcome"] == "archived"
    names: dict[str, list[tuple[int, str]]] = {}
    unused: dict[str, list[tuple[int, str]]] = {}
    for kind in KINDS:
        used = [m["certification"] if kind == "certifications" else m[kind][0] for m in movies]
        names[kind] = [(item["id"], item["name"]) for item in used]
        free = [await create_name(client, moderator, kind, f"Fuzz {word()}") for _ in range(6)]
        unused[kind] = [(item["id"], item["name"]) for item in free]
    return CatalogPool(
        movies=movies[:1] + movies[6:], doomed=movies[:6], names=names, unused=unused
    )
