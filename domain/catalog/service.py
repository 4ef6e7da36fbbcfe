"""Movie use cases (browse, read, create, update, archive or delete, restore); the names' are in
domain/catalog/names.py. Each takes a session first, raises DomainErrors, and never commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import ColumnElement, exists, func, nulls_last, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catalog import name_repository as name_repo
from domain.catalog import repository as repo
from domain.catalog.errors import MovieExists, MovieNotArchived, MovieNotFound
from domain.catalog.rules import (
    DEFAULT_SORT,
    MovieFields,
    NameKind,
    parse_sort,
    prefix_tsquery,
    search_terms,
)
from domain.db import constraint_name
from domain.errors import InvalidFields
from domain.models.catalog import Movie

LINKED_KINDS: tuple[NameKind, ...] = ("genres", "directors", "stars")


@dataclass
class MovieFilters:
    year: int | None = None
    year_from: int | None = None
    year_to: int | None = None
    imdb_min: float | None = None
    imdb_max: float | None = None
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    genres: list[str] = field(default_factory=list)
    star: str | None = None
    director: str | None = None
    certification: str | None = None
    search: str | None = None
    sort: str | None = None


SORT_COLUMNS: dict[str, Any] = {
    "name": func.lower(Movie.name),
    "year": Movie.year,
    "imdb": Movie.imdb,
    "price": Movie.price,
    "votes": Movie.votes,
    "time": Movie.time,
    "meta_score": Movie.meta_score,
    "gross": Movie.gross,
    "created": Movie.created_at,
}


def _has_name(kind: NameKind, name: str) -> ColumnElement[bool]:
    model = repo.NAME_MODELS[kind]
    if kind == "certifications":
        return Movie.certification_id.in_(
            select(model.id).where(repo.lower_name(model) == func.lower(name))
        )
    table, column = repo.LINKS[kind]
    return exists().where(
        table.c.movie_id == Movie.id,
        table.c[column] == model.id,
        repo.lower_name(model) == func.lower(name),
    )


def browse_conditions(f: MovieFilters) -> tuple[list[Any], Any]:
    """The WHERE of a browse, and the tsquery of its search (or None)."""
    where: list[Any] = [Movie.archived_at.is_(None)]
    for column, op, value in (
        (Movie.year, "==", f.year),
        (Movie.year, ">=", f.year_from),
        (Movie.year, "<=", f.year_to),
        (Movie.imdb, ">=", f.imdb_min),
        (Movie.imdb, "<=", f.imdb_max),
        (Movie.price, ">=", f.price_min),
        (Movie.price, "<=", f.price_max),
    ):
        if value is not None:  # 0 is a value, not "no filter"
            where.append(column.op(op)(value) if op != "==" else column == value)
    where += [_has_name("genres", g) for g in f.genres]
    named: tuple[tuple[NameKind, str | None], ...] = (
        ("stars", f.star),
        ("directors", f.director),
        ("certifications", f.certification),
    )
    for kind, name in named:
        if name is not None:
            where.append(_has_name(kind, name))
    query = None
    if f.search is not None:
        terms = search_terms(f.search)
        if terms:
            query = func.to_tsquery("simple", prefix_tsquery(terms))
            where.append(Movie.search_vector.op("@@")(query))
    return where, query


def browse_order(f: MovieFilters, query: Any) -> list[Any]:
    """The ORDER BY: the given sort (or relevance when searching, else the default), then the
    id, so that pages never repeat or skip a movie."""
    if f.sort is None and query is not None:
        keys = [func.ts_rank_cd(Movie.search_vector, query).desc()]
    else:
        keys = []
        for name, descending in parse_sort(f.sort or DEFAULT_SORT):
            column = SORT_COLUMNS[name]
            keys.append(nulls_last(column.desc() if descending else column.asc()))
    return [*keys, Movie.id.asc()]


async def browse(
    session: AsyncSession, filters: MovieFilters, limit: int, offset: int
) -> repo.MoviePage:
    where, query = browse_conditions(filters)
    return await repo.movie_page(session, where, browse_order(filters, query), limit, offset)


async def get_movie(
    session: AsyncSession, movie_uuid: uuid.UUID, *, include_archived: bool = False
) -> dict[str, Any]:
    movie = await repo.movie_by_uuid(session, movie_uuid)
    if movie is None or (movie["archived_at"] is not None and not include_archived):
        raise MovieNotFound()
    return movie


def _duplicate(exc: IntegrityError, fields: MovieFields | None = None) -> Exception:
    constraint = constraint_name(exc)
    if constraint == "uq_movies_name_lower_year" and fields is not None:
        return MovieExists(
            f"A movie named {fields.name!r} from {fields.year} already exists.",
            fields=[
                {
                    "loc": ["body", f],
                    "msg": "already taken with this name and year",
                    "type": "unique",
                }
                for f in ("name", "year")
            ],
        )
    return exc


async def _write_movie(
    session: AsyncSession, movie_id: int | None, fields: MovieFields
) -> tuple[int, uuid.UUID | None]:
    [certification_id] = await name_repo.ensure_names(
        session, "certifications", [fields.certification]
    )
    values = fields.model_dump(exclude={"certification", *LINKED_KINDS})
    values["certification_id"] = certification_id
    movie_uuid = None
    try:
        if movie_id is None:
            movie_id, movie_uuid = await repo.insert_movie(session, values)
        else:
            await repo.update_movie(session, movie_id, values)
    except IntegrityError as exc:
        raise _duplicate(exc, fields) from None
    for kind in LINKED_KINDS:
        ids = await name_repo.ensure_names(session, kind, getattr(fields, kind))
        await repo.set_links(session, movie_id, kind, ids)
    await repo.refresh_search(session, Movie.id == movie_id)
    return movie_id, movie_uuid


async def create_movie(session: AsyncSession, fields: MovieFields) -> dict[str, Any]:
    _, movie_uuid = await _write_movie(session, None, fields)
    assert movie_uuid is not None
    return await get_movie(session, movie_uuid)


def _stored_fields(movie: dict[str, Any]) -> dict[str, Any]:
    """A stored movie in the shape a client writes (names as plain strings)."""
    values = {
        k: movie[k] for k in MovieFields.model_fields if k not in ("certification", *LINKED_KINDS)
    }
    values["certification"] = movie["certification"]["name"]
    for kind in LINKED_KINDS:
        values[kind] = [item["name"] for item in movie[kind]]
    return values


async def update_movie(
    session: AsyncSession, movie_uuid: uuid.UUID, patch: dict[str, Any]
) -> dict[str, Any]:
    """Apply the fields sent, then validate the whole result exactly as a create."""
    locked = await repo.lock_movie(session, movie_uuid)
    if locked is None or locked.archived_at is not None:
        raise MovieNotFound()
    current = await get_movie(session, movie_uuid)
    try:
        fields = MovieFields.model_validate({**_stored_fields(current), **patch})
    except ValidationError as exc:
        raise InvalidFields.from_validation(exc, "body") from None
    await _write_movie(session, locked.id, fields)
    return await get_movie(session, movie_uuid)


async def delete_movie(
    session: AsyncSession, movie_uuid: uuid.UUID
) -> Literal["deleted", "archived"]:
    """Remove a movie nobody has ordered; archive one that is in anyone's order history (the
    order lines' foreign keys refuse the delete), so that history is never destroyed."""
    movie = await repo.lock_movie(session, movie_uuid)
    if movie is None or movie.archived_at is not None:
        raise MovieNotFound()
    try:
        async with session.begin_nested():
            await session.delete(movie)
            await session.flush()
    except IntegrityError:
        await repo.update_movie(session, movie.id, {"archived_at": datetime.now(UTC)})
        return "archived"
    return "deleted"


async def restore_movie(session: AsyncSession, movie_uuid: uuid.UUID) -> dict[str, Any]:
    movie = await repo.lock_movie(session, movie_uuid)
    if movie is None:
        raise MovieNotFound()
    if movie.archived_at is None:
        raise MovieNotArchived()
    try:
        async with session.begin_nested():
            await repo.update_movie(session, movie.id, {"archived_at": None})
    except IntegrityError as exc:  # pragma: no cover - archived rows keep their unique slot
        raise _duplicate(exc) from None
    return await get_movie(session, movie_uuid)
