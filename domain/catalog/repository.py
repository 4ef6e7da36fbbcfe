"""Every catalog query. Lists are one statement for the page and one for the count, whatever the
page size: a movie's certification, genres, stars and directors come in the same row as JSON."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from domain.catalog.rules import NameKind
from domain.db import HotQuery
from domain.models.catalog import (
    CatalogVersion,
    Certification,
    Director,
    Genre,
    Movie,
    Star,
    movie_directors,
    movie_genres,
    movie_stars,
)

NAME_MODELS: dict[NameKind, Any] = {
    "genres": Genre,
    "stars": Star,
    "directors": Director,
    "certifications": Certification,
}
# The link table and its column for each kind linked many-to-many to movies.
LINKS: dict[NameKind, tuple[Table, str]] = {
    "genres": (movie_genres, "genre_id"),
    "stars": (movie_stars, "star_id"),
    "directors": (movie_directors, "director_id"),
}


def lower_name(model: Any) -> ColumnElement[str]:
    return func.lower(model.name)


def escape_like(text: str) -> str:
    """`%`, `_` and the escape character itself taken literally in a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- version ----------------------------------------------------------------------------------

_CATALOG_VERSION = HotQuery(
    select(CatalogVersion.version).where(CatalogVersion.id == literal_column("1"))
)


async def catalog_version(db: AsyncConnection) -> int:
    """The catalog's version: raised by every committed write to a catalog table (triggers), so
    a page cached under it is current exactly as long as the version is. One prepared statement
    on an autocommit connection (it runs on every cached read)."""
    row = await _CATALOG_VERSION.fetchrow(db)
    return int(row[0]) if row is not None else 0


# --- movies -----------------------------------------------------------------------------------


def _names_json(kind: NameKind) -> ColumnElement[Any]:
    """The movie's genres/stars/directors as a JSON array of {id, name}, ordered by name."""
    model = NAME_MODELS[kind]
    table, column = LINKS[kind]
    item = func.json_build_object("id", model.id, "name", model.name)
    return (
        select(
            func.coalesce(
                func.json_agg(aggregate_order_by(item, lower_name(model), model.id)),
                literal_column("'[]'::json"),
            )
        )
        .select_from(table.join(model, model.id == table.c[column]))
        .where(table.c.movie_id == Movie.id)
        .scalar_subquery()
    )


MOVIE_COLUMNS = (
    Movie.id,
    Movie.uuid,
    Movie.name,
    Movie.year,
    Movie.time,
    Movie.imdb,
    Movie.votes,
    Movie.meta_score,
    Movie.gross,
    Movie.description,
    Movie.price,
    Movie.created_at,
    Movie.updated_at,
    Movie.archived_at,
    func.json_build_object("id", Certification.id, "name", Certification.name).label(
        "certification"
    ),
)


@dataclass(frozen=True)
class MoviePage:
    rows: list[dict[str, Any]]
    total: int


def movie_rows_query(
    where: Sequence[Any],
    order_by: Sequence[Any],
    limit: int | None = None,
    offset: int = 0,
) -> Select[Any]:
    """One statement: the page of movie ids in order, then each movie with its names as JSON
    (the JSON is built for the page's rows only).

    The outer query sorts the page's rows again by the same keys (unique, ending with the id)
    instead of numbering them in the inner one: a row_number() over the whole result made
    Postgres sort every matching movie, where ORDER BY ... LIMIT alone keeps only the top
    rows (a bounded heap sort) or reads them in index order.
    """
    page = (
        select(Movie.id)
        .where(*where)
        .order_by(*order_by)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    return (
        select(
            *MOVIE_COLUMNS,
            _names_json("genres").label("genres"),
            _names_json("directors").label("directors"),
            _names_json("stars").label("stars"),
        )
        .select_from(page.join(Movie, Movie.id == page.c.id).join(Certification))
        .order_by(*order_by)
    )


async def movie_page(
    session: AsyncSession,
    where: Sequence[Any],
    order_by: Sequence[Any],
    limit: int,
    offset: int,
) -> MoviePage:
    total = (await session.execute(select(func.count(Movie.id)).where(*where))).scalar_one()
    return MoviePage(await movie_rows(session, where, order_by, limit, offset), int(total))


async def movie_rows(
    session: AsyncSession,
    where: Sequence[Any],
    order_by: Sequence[Any],
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """A page of movies without its count (for a caller that knows the total already)."""
    rows = await session.execute(movie_rows_query(where, order_by, limit, offset))
    return [dict(r._mapping) for r in rows]


async def count_all_movies(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count(Movie.id)))).scalar_one())


async def movie_by_uuid(session: AsyncSession, movie_uuid: uuid.UUID) -> dict[str, Any] | None:
    row = (await session.execute(movie_rows_query([Movie.uuid == movie_uuid], [Movie.id]))).first()
    return dict(row._mapping) if row else None


async def lock_movie(session: AsyncSession, movie_uuid: uuid.UUID) -> Movie | None:
    """The movie row for a write, locked until the transaction ends (PATCH/DELETE/restore)."""
    result = await session.execute(select(Movie).where(Movie.uuid == movie_uuid).with_for_update())
    return result.scalar_one_or_none()


async def insert_movie(session: AsyncSession, values: dict[str, Any]) -> tuple[int, uuid.UUID]:
    row = (
        await session.execute(insert(Movie).values(**values).returning(Movie.id, Movie.uuid))
    ).one()
    return int(row.id), row.uuid


async def update_movie(session: AsyncSession, movie_id: int, values: dict[str, Any]) -> None:
    await session.execute(update(Movie).where(Movie.id == movie_id).values(**values))


async def set_links(session: AsyncSession, movie_id: int, kind: NameKind, ids: list[int]) -> None:
    table, column = LINKS[kind]
    await session.execute(delete(table).where(table.c.movie_id == movie_id))
    unique_ids = dict.fromkeys(ids)  # two spellings the database lower-cases alike: one link
    if unique_ids:
        await session.execute(
            insert(table), [{"movie_id": movie_id, column: i} for i in unique_ids]
        )


def _names_text(kind: NameKind) -> ColumnElement[str]:
    model = NAME_MODELS[kind]
    table, column = LINKS[kind]
    return (
        select(func.coalesce(func.string_agg(model.name, " "), ""))
        .select_from(table.join(model, model.id == table.c[column]))
        .where(table.c.movie_id == Movie.id)
        .scalar_subquery()
    )


def search_vector_expression() -> ColumnElement[Any]:
    """Title (weight A), stars and directors (B), description (C); the `simple` configuration
    (no stemming, no stop words) so that prefix queries match what the user typed."""

    def weighted(text: Any, weight: str) -> ColumnElement[Any]:
        return func.setweight(func.to_tsvector("simple", text), literal_column(f"'{weight}'"))

    return (
        weighted(Movie.name, "A")
        .op("||")(
            weighted(_names_text("stars").op("||")(" ").op("||")(_names_text("directors")), "B")
        )
        .op("||")(weighted(Movie.description, "C"))
    )


async def refresh_search(session: AsyncSession, where: ColumnElement[bool]) -> None:
    """Recompute the search vector of the movies matching `where` (after any write that
    changes a title, a description, or a star's or director's name or links)."""
    await session.execute(
        update(Movie).where(where).values(search_vector=search_vector_expression())
    )


def uses_name(kind: NameKind, name_id: int) -> ColumnElement[bool]:
    if kind == "certifications":
        return Movie.certification_id == name_id
    table, column = LINKS[kind]
    return exists().where(and_(table.c.movie_id == Movie.id, table.c[column] == name_id))


async def analyze_catalog(session: AsyncSession) -> None:
    """Refresh the planner's statistics after a bulk load, so the first pages use the indexes
    instead of waiting for autovacuum (10-70x slower until then, docs/benchmarks.md)."""
    for table in ("movies", "movie_genres", "movie_stars", "movie_directors", "genres", "stars"):
        await session.execute(text(f"ANALYZE {table}"))
