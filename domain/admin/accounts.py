"""Admin account management: activate, change group, deactivate, and the filtered user list.

The last-admin rule: every change that could leave no active admin first locks the ADMIN row of
`user_groups`, so two such changes take turns and the second counts what the first left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import ScalarSelect

from domain.accounts import repository as accounts_repo
from domain.accounts.errors import UserNotFound
from domain.admin.pages import newest_first
from domain.catalog.repository import escape_like
from domain.errors import Conflict, DomainError
from domain.models import RefreshToken, User, UserGroup, UserGroupModel


class LastAdmin(Conflict):
    code = "last_admin"
    default_detail = "This is the last active admin; promote another admin first."


class CannotTargetSelf(DomainError):
    status = 403
    code = "cannot_target_self"
    default_detail = "You cannot deactivate your own account."


@dataclass(frozen=True, slots=True)
class Target:
    id: int
    group: UserGroup
    is_active: bool


async def _target(session: AsyncSession, email: str, *, lock: bool = False) -> Target:
    query = (
        select(User.id, UserGroupModel.name, User.is_active)
        .join(UserGroupModel, User.group_id == UserGroupModel.id)
        .where(User.email == email)  # exact match on the normalised email, never a LIKE
    )
    if lock:
        query = query.with_for_update(of=User)
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise UserNotFound("No account has this email.")
    return Target(row[0], UserGroup(row[1]), row[2])


async def _lock_admin_set(session: AsyncSession) -> None:
    """Serialise every change that can remove an active admin (one row lock, held to commit).

    FOR NO KEY UPDATE: it excludes the same lock, yet not the key-share locks that foreign-key
    checks take, so writing users (e.g. creating an admin) is never blocked by it."""
    await session.execute(
        select(UserGroupModel.id)
        .where(UserGroupModel.name == UserGroup.ADMIN)
        .with_for_update(key_share=True)
    )


async def _other_active_admins(session: AsyncSession, user_id: int) -> int:
    query = (
        select(func.count())
        .select_from(User)
        .join(UserGroupModel, User.group_id == UserGroupModel.id)
        .where(UserGroupModel.name == UserGroup.ADMIN, User.is_active, User.id != user_id)
    )
    return int((await session.execute(query)).scalar_one())


def _group_id(group: UserGroup) -> ScalarSelect[int]:
    return select(UserGroupModel.id).where(UserGroupModel.name == group).scalar_subquery()


async def activate(session: AsyncSession, email: str) -> bool:
    """Activate the account; False when it was active already. Its activation token goes."""
    target = await _target(session, email, lock=True)
    if target.is_active:
        return False
    await session.execute(
        update(User)
        .where(User.id == target.id, User.is_active.is_(False))
        .values(is_active=True, activated_at=func.coalesce(User.activated_at, func.now()))
    )
    await accounts_repo.delete_activation_token(session, target.id)
    return True


async def change_group(session: AsyncSession, email: str, group: UserGroup) -> bool:
    """Move the user into `group`; False when they were in it already. Their next request
    sees the new group (each request loads the user's group)."""
    await _lock_admin_set(session)
    target = await _target(session, email, lock=True)
    if target.group == group:
        return False
    demotes_admin = target.group == UserGroup.ADMIN and target.is_active
    if demotes_admin and await _other_active_admins(session, target.id) == 0:
        raise LastAdmin()
    await session.execute(
        update(User).where(User.id == target.id).values(group_id=_group_id(group))
    )
    return True


async def deactivate(session: AsyncSession, email: str, caller_id: int) -> bool:
    """Deactivate the account; False when it was inactive already. Every token it holds stops
    at once: access tokens fail the per-request user check, refresh tokens are revoked."""
    await _lock_admin_set(session)
    target = await _target(session, email, lock=True)
    if target.id == caller_id:
        raise CannotTargetSelf()
    if not target.is_active:
        return False
    if target.group == UserGroup.ADMIN and await _other_active_admins(session, target.id) == 0:
        raise LastAdmin()
    await session.execute(
        update(User)
        .where(User.id == target.id)
        .values(is_active=False, tokens_valid_after=func.now())
    )
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == target.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    return True


@dataclass(frozen=True, slots=True)
class UserFilter:
    email_prefix: str | None = None
    group: UserGroup | None = None
    is_active: bool | None = None
    joined_from: datetime | None = None  # inclusive
    joined_before: datetime | None = None  # exclusive


async def list_users(
    session: AsyncSession, filters: UserFilter, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Users newest first, filtered; returns (rows, total)."""
    where: list[ColumnElement[bool]] = []
    if filters.email_prefix:
        where.append(User.email.like(escape_like(filters.email_prefix) + "%", escape="\\"))
    if filters.group is not None:
        where.append(UserGroupModel.name == filters.group)
    if filters.is_active is not None:
        where.append(User.is_active.is_(filters.is_active))
    if filters.joined_from is not None:
        where.append(User.created_at >= filters.joined_from)
    if filters.joined_before is not None:
        where.append(User.created_at < filters.joined_before)
    query = (
        select(
            User.id,
            User.email,
            UserGroupModel.name.label("group"),
            User.is_active,
            User.created_at,
            User.activated_at,
        )
        .join(UserGroupModel, User.group_id == UserGroupModel.id)
        .where(*where)
    )
    return await newest_first(session, query, User, limit, offset)
