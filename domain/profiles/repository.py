"""Profile rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts.errors import UserNotFound
from domain.db import MAX_ID, constraint_name
from domain.models import UserProfile
from domain.profiles.errors import ProfileExists

# The constraints insert_profile answers for (domain/models/accounts.py, naming convention).
ONE_PROFILE_PER_USER = "uq_user_profiles_user_id"
PROFILE_USER_FK = "fk_user_profiles_user_id_users"


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
    """The new row. ProfileExists when the user has one (the unique user_id decides, so two
    concurrent creates cannot both succeed); UserNotFound when there is no such user (the
    foreign key decides, so a user deleted meanwhile is one too). Any other integrity error is
    a bug and propagates."""
    if not 0 < user_id <= MAX_ID:
        raise UserNotFound()
    profile = UserProfile(user_id=user_id, **values)
    session.add(profile)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        name = constraint_name(exc)
        if name == ONE_PROFILE_PER_USER:
            raise ProfileExists() from None
        if name == PROFILE_USER_FK:
            raise UserNotFound() from None
        raise
    return profile
