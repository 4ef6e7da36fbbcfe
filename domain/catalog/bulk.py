"""Bulk writes of many movies at once (the importer and the demo seeder share them).

Each batch is one transaction of a few statements, whatever its size: names are created with
INSERT ... ON CONFLICT, movies are upserted on their (lower(name), year) key, links replaced,
search vectors refreshed. Re-running with the same data updates rows and never duplicates them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, literal_column
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catalog import name_repository as name_repo
from domain.catalog import repository as repo
from domain.catalog.rules import MovieFields, NameKind
from domain.models.catalog import Movie

LINKED: tuple[NameKind, ...] = ("genres", "directors", "stars")


@dataclass(frozen=True)
class BatchResult:
    inserted: int
    updated: int


async def _name_ids(
    session: AsyncSession, kind: NameKind, movies: Sequence[MovieFields]
) -> dict[str, int]:
    names: dict[str, str] = {}
    for movie in movies:
        values = [movie.certification] if kind == "certifications" else getattr(movie, kind)
        for name in values:
            names.setdefault(name.lower(), name)
    ids = await name_repo.ensure_names(session, kind, list(names.values()))
    return dict(zip(names, ids, strict=True))


async def upsert_movies(session: AsyncSession, movies: Sequence[MovieFields]) -> BatchResult:
    """Insert or update these movies (unique on lower(name) and year within the batch)."""
    if not movies:
        return BatchResult(0, 0)
    certifications = await _name_ids(session, "certifications", movies)
    rows = []
    for movie in movies:
        values = movie.model_dump(exclude={"certification", *LINKED})
        values["certification_id"] = certifications[movie.certification.lower()]
        rows.append(values)
    statement = pg_insert(Movie).values(rows)
    changed: dict[str, Any] = {
        column: statement.excluded[column]
        for column in rows[0]
        if column != "name"  # the key compares lower(name); keep the stored spelling
    }
    changed["updated_at"] = func.now()
    result: Any = await session.execute(
        statement.on_conflict_do_update(
            index_elements=[func.lower(Movie.name), Movie.year], set_=changed
        ).returning(Movie.id, Movie.name, Movie.year, literal_column("xmax = 0"))  # inserted?
    )
    ids: dict[tuple[str, int], int] = {}
    inserted = 0
    for movie_id, name, year, fresh in result:
        ids[(name.lower(), year)] = movie_id
        inserted += bool(fresh)
    movie_ids = list(ids.values())
    for kind in LINKED:
        name_ids = await _name_ids(session, kind, movies)
        table, column = repo.LINKS[kind]
        await session.execute(delete(table).where(table.c.movie_id.in_(movie_ids)))
        links = [
            {"movie_id": ids[(m.name.lower(), m.year)], column: name_ids[n.lower()]}
            for m in movies
            for n in getattr(m, kind)
        ]
        if links:
            await session.execute(insert(table), links)
    await repo.refresh_search(session, Movie.id.in_(movie_ids))
    return BatchResult(inserted=inserted, updated=len(movies) - inserted)
