"""Linking names from two transactions at once (the importer's batches, an import next to a movie
create): the same new names in opposite orders both succeed and end up as one row each."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from domain.catalog import name_repository as name_repo
from domain.db import transaction
from domain.models.catalog import Genre


async def test_overlapping_new_names_in_opposite_orders_do_not_deadlock(stack) -> None:
    names = [f"Overlap {uuid.uuid4().hex[:10]}" for _ in range(3000)]

    async def link(order: list[str]) -> list[int]:
        async with transaction(stack.sessions) as session:
            return await name_repo.ensure_names(session, "genres", order)

    forward, backward = await asyncio.gather(link(names), link(names[::-1]))
    assert forward == backward[::-1]
    async with transaction(stack.sessions) as session:
        stored = await session.scalar(
            select(func.count()).select_from(Genre).where(Genre.name.in_(names))
        )
    assert stored == len(names)


async def test_ids_follow_the_order_given_and_ignore_case(stack) -> None:
    tag = uuid.uuid4().hex[:8]
    async with transaction(stack.sessions) as session:
        first = await name_repo.ensure_names(
            session, "stars", [f"B {tag}", f"A {tag}", f"Émile {tag}"]
        )
        again = await name_repo.ensure_names(
            session, "stars", [f"a {tag}", f"Émile {tag}", f"b {tag}"]
        )
    assert again == [first[1], first[2], first[0]]
