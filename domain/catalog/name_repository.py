"""Queries about genres, stars, directors and certifications (the movies' own queries are in
repository.py, with the tables and helpers both share)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    String,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catalog.repository import LINKS, NAME_MODELS, escape_like, lower_name
from domain.catalog.rules import NameKind
from domain.models.catalog import Movie


async def ensure_names(session: AsyncSession, kind: NameKind, names: Sequence[str]) -> list[int]:
    """Ids of these names (matched exactly, ignoring case), in the order given, creating the
    missing ones.

    Race-safe: INSERT ... ON CONFLICT on the unique lower(name) index, then one SELECT. Names
    are inserted in one fixed order, so transactions creating overlapping names (two imports, an
    import and a movie create) take the index's locks in the same order instead of deadlocking.
    They are matched with the database's lower(), the function of the unique index: Python's
    str.lower() disagrees with it outside ASCII (and depends on the server's locale).
    """
    if not names:
        return []
    model = NAME_MODELS[kind]
    given = (
        func.unnest(literal(list(names), ARRAY(String)))
        .table_valued("name", with_ordinality="position")
        .render_derived("given")
    )
    matched = select(given.c.position, model.id).join_from(
        given, model, lower_name(model) == func.lower(given.c.name)
    )
    for _ in range(3):  # again only if a name was deleted between the insert and the select
        await session.execute(
            pg_insert(model)
            .values([{"name": n} for n in sorted(names, key=lambda n: (n.lower(), n))])
            .on_conflict_do_nothing(index_elements=[lower_name(model)])
        )
        ids: dict[int, int] = {
            int(position): id_ for position, id_ in await session.execute(matched)
        }
        if len(ids) == len(names):
            return [ids[position] for position in range(1, len(names) + 1)]
    raise RuntimeError(f"{kind}: names vanished while being linked")


def movies_using(kind: NameKind, name_id: Any) -> Select[Any]:
    """Ids of the movies (archived ones too) that use this genre/star/director/certification."""
    if kind == "certifications":
        return select(Movie.id).where(Movie.certification_id == name_id)
    table, column = LINKS[kind]
    return select(table.c.movie_id).where(table.c[column] == name_id)


def _visible_movie_count(kind: NameKind, model: Any) -> ColumnElement[int]:
    """How many catalog (not archived) movies use each row of `model`: a subquery correlated
    to the outer row (a FROM-subquery cannot correlate, it would count every name's movies)."""
    count = select(func.count()).where(Movie.archived_at.is_(None))
    if kind == "certifications":
        return count.where(Movie.certification_id == model.id).scalar_subquery()
    table, column = LINKS[kind]
    return (
        count.select_from(table.join(Movie, Movie.id == table.c.movie_id))
        .where(table.c[column] == model.id)
        .scalar_subquery()
    )


async def list_names(
    session: AsyncSession, kind: NameKind, prefix: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    model = NAME_MODELS[kind]
    # lower() on both sides in the database, as the unique index compares names.
    where = (
        lower_name(model).startswith(func.lower(escape_like(prefix)), escape="\\")
        if prefix
        else true()
    )
    total = (
        await session.execute(select(func.count()).select_from(model).where(where))
    ).scalar_one()
    rows = await session.execute(
        select(model.id, model.name, _visible_movie_count(kind, model).label("total_movies"))
        .where(where)
        .order_by(lower_name(model), model.id)
        .limit(limit)
        .offset(offset)
    )
    return [dict(r._mapping) for r in rows], int(total)


async def get_name(session: AsyncSession, kind: NameKind, name_id: int) -> dict[str, Any] | None:
    model = NAME_MODELS[kind]
    row = (
        await session.execute(
            select(
                model.id, model.name, _visible_movie_count(kind, model).label("total_movies")
            ).where(model.id == name_id)
        )
    ).first()
    return dict(row._mapping) if row else None


async def insert_name(session: AsyncSession, kind: NameKind, name: str) -> int:
    model = NAME_MODELS[kind]
    return int(
        (await session.execute(insert(model).values(name=name).returning(model.id))).scalar_one()
    )


async def rename(session: AsyncSession, kind: NameKind, name_id: int, name: str) -> bool:
    model = NAME_MODELS[kind]
    result = await session.execute(
        update(model).where(model.id == name_id).values(name=name).returning(model.id)
    )
    return result.first() is not None


async def count_movies_using(session: AsyncSession, kind: NameKind, name_id: int) -> int:
    used = movies_using(kind, name_id).subquery()
    return int((await session.execute(select(func.count()).select_from(used))).scalar_one())


async def delete_name(session: AsyncSession, kind: NameKind, name_id: int) -> bool:
    model = NAME_MODELS[kind]
    result = await session.execute(delete(model).where(model.id == name_id).returning(model.id))
    return result.first() is not None
