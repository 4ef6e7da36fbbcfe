"""EXPLAIN ANALYZE of the exact statements the API sends for a catalog URL (`--explain`).

The browse or detail use case runs once against the stack's database with a listener that
records every statement and its parameters as SQLAlchemy hands them to asyncpg; each is then
run again under `EXPLAIN (ANALYZE, BUFFERS)` in a transaction that is rolled back.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import event


def _browse_query(path: str) -> Any:
    from api.movies import BrowseQuery

    values: dict[str, Any] = {}
    for key, items in parse_qs(urlsplit(path).query).items():
        values[key] = items if key == "genre" else items[-1]
    return BrowseQuery.model_validate(values)


async def explain(database_url: str, path: str) -> list[tuple[str, list[str]]]:
    """[(statement, plan lines)] for GET `path` (a /movies/ list or a /movies/{uuid}/)."""
    from domain.catalog import service as catalog
    from domain.config import Settings
    from domain.db import create_engine, create_session_factory, transaction

    engine = create_engine(Settings(database_url=database_url))
    captured: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        captured.append((statement, params))

    try:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
        async with transaction(create_session_factory(engine)) as session:
            parts = [p for p in urlsplit(path).path.split("/") if p]
            if len(parts) == 2:
                await catalog.get_movie(session, uuid.UUID(parts[1]))
            else:
                query = _browse_query(path)
                filters = catalog.MovieFilters(
                    **query.model_dump(exclude={"page", "per_page", "genre"}),
                    genres=query.genre,
                )
                await catalog.browse(session, filters, query.per_page, query.offset)
        event.remove(engine.sync_engine, "before_cursor_execute", record)
        plans: list[tuple[str, list[str]]] = []
        async with engine.connect() as conn:
            for statement, params in captured:
                result = await conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement, params
                )
                plans.append((statement, [row[0] for row in result]))
            await conn.rollback()
        return plans
    finally:
        await engine.dispose()


def explain_markdown(path: str, plans: list[tuple[str, list[str]]]) -> str:
    lines = [f"`GET {path}`: {len(plans)} statements", ""]
    for n, (statement, plan) in enumerate(plans, 1):
        lines += [f"Statement {n}:", "", "```sql", *statement.splitlines(), "```", ""]
        lines += ["```", *plan, "```", ""]
    return "\n".join(lines)
