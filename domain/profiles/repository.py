"""Profile rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import User, UserProfile
from domain.profiles.errors import ProfileExists

# Ids are BIGINT: a larger id in a URL names nothing, and must not reach the driver.
MAX_ID = 2**63 - 1


async def user_exists(session: AsyncSession, user_id: int) -> bool:
    if not 0 < user_id <= MAX_ID:
        return False
    return (await session.execute(select(User.id).where(User.id == user_id))).first() is not None


async def get_profile(
    session: AsyncSession, user_id: int, *, for_update: bool = False
) -> UserProfile | None:
    if not 0 < user_id <= MAX_ID:
        return None
    query = select(UserProfile).where(UserProfile.user_id == user_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def insert_profile(
    session: AsyncSession, user_id: int, values: dict[str, Any]
) -> UserProfile:
    """The new row; ProfileExists when the user has one (the unique user_id decides, so two
    concurrent creates cannot both succeed)."""
    profile = UserProfile(user_id=user_id, **values)
    session.add(profile)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise ProfileExists() from None
    return profile
