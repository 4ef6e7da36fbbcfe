"""Profiles: who may read and write one, and the avatar's file kept in step with the row.

The avatar's new file is written before the transaction and removed again when it fails; the
old file is removed only after the commit, so a failure at any point leaves the row pointing at
a file that exists."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from typing import Any

from domain.accounts.repository import AuthUser
from domain.db import SessionFactory, transaction
from domain.errors import PermissionDenied
from domain.media import normalise_avatar
from domain.models import UserGroup, UserProfile
from domain.profiles import repository
from domain.profiles.errors import ProfileNotFound
from domain.profiles.rules import ProfileFields, age_on
from domain.storage import MediaStorage

# At most two images are decoded at a time per process: each may take up to the pixel cap in memory.
_IMAGE_WORK = asyncio.Semaphore(2)


@dataclass(frozen=True)
class AvatarChange:
    """`data` is an upload to store; `data=None` removes the avatar."""

    data: bytes | None


def authorize(caller: AuthUser, user_id: int) -> None:
    """Owners and admins (the ADMIN group by name); everyone else 403, before anything about the
    target user is revealed."""
    if caller.id != user_id and caller.group is not UserGroup.ADMIN:
        raise PermissionDenied("Only the profile's owner or an admin may do this.")


def to_out(
    profile: UserProfile, storage: MediaStorage, today: date | None = None
) -> dict[str, Any]:
    born = profile.date_of_birth
    return {
        "id": profile.id,
        "user_id": profile.user_id,
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "gender": profile.gender,
        "date_of_birth": born,
        "age": None if born is None else age_on(born, today or date.today()),
        "info": profile.info,
        "avatar": None if profile.avatar is None else storage.url(profile.avatar),
    }


async def get(
    sessions: SessionFactory, storage: MediaStorage, caller: AuthUser, user_id: int
) -> dict[str, Any]:
    authorize(caller, user_id)
    async with transaction(sessions) as session:
        profile = await repository.get_profile(session, user_id)
        if profile is None:
            raise ProfileNotFound()
        return to_out(profile, storage)


async def _store_avatar(storage: MediaStorage, data: bytes, max_pixels: int) -> str:
    async with _IMAGE_WORK:
        encoded, ext = await asyncio.to_thread(normalise_avatar, data, max_pixels)
        return await asyncio.to_thread(storage.save, encoded, ext)


async def save(
    sessions: SessionFactory,
    storage: MediaStorage,
    caller: AuthUser,
    user_id: int,
    fields: ProfileFields,
    avatar: AvatarChange | None,
    *,
    create: bool,
    max_pixels: int,
) -> dict[str, Any]:
    """Create (`create=True`, 409 if one exists) or update only the fields sent."""
    authorize(caller, user_id)
    values = {name: getattr(fields, name) for name in fields.model_fields_set}
    new_key = None
    if avatar is not None and avatar.data is not None:
        new_key = await _store_avatar(storage, avatar.data, max_pixels)
    old_key = None
    try:
        async with transaction(sessions) as session:
            if avatar is not None:
                values["avatar"] = new_key
            if create:
                profile = await repository.insert_profile(session, user_id, values)
            else:
                found = await repository.get_profile(session, user_id, for_update=True)
                if found is None:
                    raise ProfileNotFound()
                profile = found
                if avatar is not None:
                    old_key = profile.avatar
                for name, value in values.items():
                    setattr(profile, name, value)
                await session.flush()
            out = to_out(profile, storage)
    except BaseException:
        if new_key is not None:
            await asyncio.to_thread(storage.delete, new_key)
        raise
    if old_key is not None and old_key != new_key:
        await asyncio.to_thread(storage.delete, old_key)
    return out
