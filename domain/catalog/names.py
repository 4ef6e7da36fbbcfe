"""Use cases of genres, stars, directors and certifications (the names movies are linked to).
Each takes a session first, raises DomainErrors, and never commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catalog import name_repository as name_repo
from domain.catalog import repository as repo
from domain.catalog.errors import NameInUse, NameNotFound, NameTaken
from domain.catalog.rules import NameKind
from domain.db import constraint_name
from domain.models.catalog import Movie

SINGULAR: dict[NameKind, str] = {
    "genres": "genre",
    "stars": "star",
    "directors": "director",
    "certifications": "certification",
}


def _name_taken(kind: NameKind, name: str) -> NameTaken:
    return NameTaken(
        f"A {SINGULAR[kind]} named {name!r} already exists.",
        fields=[{"loc": ["body", "name"], "msg": "already taken", "type": "unique"}],
    )


MAX_NAME_ID = 2**31 - 1  # the ids are Postgres integers


def _not_found(kind: NameKind, name_id: int) -> NameNotFound:
    return NameNotFound(f"No {SINGULAR[kind]} has the id {name_id}.")


def _check_id(kind: NameKind, name_id: int) -> None:
    """An id no row can have is a 404 here, not a database error (out of the column's range)."""
    if not 0 < name_id <= MAX_NAME_ID:
        raise _not_found(kind, name_id)


async def get_name(session: AsyncSession, kind: NameKind, name_id: int) -> dict[str, Any]:
    _check_id(kind, name_id)
    found = await name_repo.get_name(session, kind, name_id)
    if found is None:
        raise _not_found(kind, name_id)
    return found


async def create_name(session: AsyncSession, kind: NameKind, name: str) -> dict[str, Any]:
    try:
        async with session.begin_nested():
            name_id = await name_repo.insert_name(session, kind, name)
    except IntegrityError as exc:
        if (constraint_name(exc) or "").startswith(f"uq_{kind}_name"):
            raise _name_taken(kind, name) from None
        raise
    return await get_name(session, kind, name_id)


async def rename(session: AsyncSession, kind: NameKind, name_id: int, name: str) -> dict[str, Any]:
    _check_id(kind, name_id)
    try:
        async with session.begin_nested():
            found = await name_repo.rename(session, kind, name_id, name)
    except IntegrityError as exc:
        if (constraint_name(exc) or "").startswith(f"uq_{kind}_name"):
            raise _name_taken(kind, name) from None
        raise
    if not found:
        raise _not_found(kind, name_id)
    if kind in ("stars", "directors"):  # their names are searchable
        await repo.refresh_search(session, repo.uses_name(kind, name_id))
    return await get_name(session, kind, name_id)


async def delete_name(session: AsyncSession, kind: NameKind, name_id: int) -> None:
    _check_id(kind, name_id)
    used = await name_repo.count_movies_using(session, kind, name_id)
    if used:
        raise NameInUse(
            f"This {SINGULAR[kind]} is used by {used} movie(s); change those movies first.",
            movies=used,
        )
    try:
        async with session.begin_nested():
            found = await name_repo.delete_name(session, kind, name_id)
    except IntegrityError:  # a movie started using it since the count
        raise NameInUse(
            f"This {SINGULAR[kind]} is used by movies; change those movies first.",
            movies=await name_repo.count_movies_using(session, kind, name_id),
        ) from None
    if not found:
        raise _not_found(kind, name_id)


async def movies_with_name(
    session: AsyncSession, kind: NameKind, name_id: int, limit: int, offset: int
) -> tuple[dict[str, Any], repo.MoviePage]:
    """A genre/star/director/certification and a page of its catalog movies, by title: two
    statements (the name's `total_movies` is the page's total, so no separate count)."""
    found = await get_name(session, kind, name_id)
    where = [Movie.archived_at.is_(None), repo.uses_name(kind, name_id)]
    order = [func.lower(Movie.name), Movie.year.desc(), Movie.id]
    rows = await repo.movie_rows(session, where, order, limit, offset)
    return found, repo.MoviePage(rows=rows, total=int(found["total_movies"]))
