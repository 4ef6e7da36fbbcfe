"""The page every admin list returns: newest first with the id as tie-breaker (so pages are
stable), and the total of what the filters match."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession


async def newest_first(
    session: AsyncSession, query: Any, model: Any, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of `query`'s rows (dicts) by `model`'s created_at, newest first; and the total."""
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(
        query.order_by(model.created_at.desc(), model.id.desc()).limit(limit).offset(offset)
    )
    return [dict(r._mapping) for r in rows], int(total)
