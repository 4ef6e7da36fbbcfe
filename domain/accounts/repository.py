"""Accounts queries: users, their one-time (activation, password-reset) tokens, and the
clean-up of expired tokens of every kind. Sessions (refresh tokens): session_repository.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import joinedload
from sqlalchemy.sql.selectable import ScalarSelect

from domain.db import HotQuery
from domain.models import (
    ActivationToken,
    PasswordResetToken,
    RefreshToken,
    User,
    UserGroup,
    UserGroupModel,
)


def _group_id(group: UserGroup) -> ScalarSelect[int]:
    return select(UserGroupModel.id).where(UserGroupModel.name == group).scalar_subquery()


async def insert_user_if_absent(
    session: AsyncSession,
    email: str,
    hashed_password: str,
    group: UserGroup = UserGroup.USER,
    is_active: bool = False,
) -> int | None:
    """Insert a user; return the new id, or None when the email is taken (a DB constraint)."""
    stmt = (
        insert(User)
        .values(
            email=email,
            hashed_password=hashed_password,
            group_id=_group_id(group),
            is_active=is_active,
            activated_at=func.now() if is_active else None,
        )
        .on_conflict_do_nothing(index_elements=[User.email])
        .returning(User.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def delete_unactivated_user(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(User).where(User.id == user_id, User.is_active.is_(False)))


@dataclass(frozen=True, slots=True)
class Credentials:
    id: int
    hashed_password: str
    is_active: bool


_CREDENTIALS = HotQuery(
    select(User.id, User.hashed_password, User.is_active).where(User.email == bindparam("email"))
)


async def get_credentials(db: AsyncConnection | AsyncSession, email: str) -> Credentials | None:
    row = await _CREDENTIALS.fetchrow(db, email=email)
    return Credentials(*row) if row is not None else None


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    stmt = select(User).options(joinedload(User.group)).where(User.email == email)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    stmt = select(User).options(joinedload(User.group)).where(User.id == user_id)
    return (await session.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class AuthUser:
    """What authenticating a request needs, read in one small query (the hot path)."""

    id: int
    email: str
    group: UserGroup
    is_active: bool
    created_at: datetime
    activated_at: datetime | None
    tokens_valid_after: datetime


_AUTH_USER = select(
    User.id,
    User.email,
    UserGroupModel.name,
    User.is_active,
    User.created_at,
    User.activated_at,
    User.tokens_valid_after,
).join(UserGroupModel, User.group_id == UserGroupModel.id)


_AUTH_USER_BY_ID = HotQuery(_AUTH_USER.where(User.id == bindparam("user_id")))


async def get_auth_user(db: AsyncConnection | AsyncSession, user_id: int) -> AuthUser | None:
    row = await _AUTH_USER_BY_ID.fetchrow(db, user_id=user_id)
    if row is None:
        return None
    user_id_, email, group, is_active, created_at, activated_at, tokens_valid_after = row
    return AuthUser(
        user_id_, email, UserGroup(group), is_active, created_at, activated_at, tokens_valid_after
    )


async def get_user_email(session: AsyncSession, user_id: int) -> str | None:
    return (await session.execute(select(User.email).where(User.id == user_id))).scalar()


async def set_password_hash(
    db: AsyncConnection | AsyncSession, user_id: int, hashed_password: str
) -> None:
    await db.execute(update(User).where(User.id == user_id).values(hashed_password=hashed_password))


async def replace_password_hash(
    session: AsyncSession, user_id: int, expected_hash: str, hashed_password: str
) -> bool:
    """Set the new hash only if the stored one is still `expected_hash` (the one the current
    password was checked against); False when another change came first."""
    result = await session.execute(
        update(User)
        .where(User.id == user_id, User.hashed_password == expected_hash)
        .values(hashed_password=hashed_password)
        .returning(User.id)
    )
    return result.scalar_one_or_none() is not None


async def move_tokens_valid_after(session: AsyncSession, user_id: int) -> None:
    """The user-wide revocation mark: every token of this user issued before now is refused."""
    await session.execute(
        update(User).where(User.id == user_id).values(tokens_valid_after=func.now())
    )


async def set_group(session: AsyncSession, email: str, group: UserGroup) -> int | None:
    """Move the user with this email into `group`; their very next request sees it."""
    result = await session.execute(
        update(User).where(User.email == email).values(group_id=_group_id(group)).returning(User.id)
    )
    return result.scalar_one_or_none()


async def promote_to_active_admin(session: AsyncSession, user_id: int, hashed: str) -> None:
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            group_id=_group_id(UserGroup.ADMIN),
            is_active=True,
            hashed_password=hashed,
            activated_at=func.coalesce(User.activated_at, func.now()),
            tokens_valid_after=func.now(),
        )
    )


# --- activation tokens -------------------------------------------------------------------------


async def store_one_time_token(
    session: AsyncSession,
    model: type[ActivationToken] | type[PasswordResetToken],
    user_id: int,
    token_hash: str,
    expires_at: datetime,
) -> None:
    """One live token per user and purpose: a new token replaces (and so invalidates) the
    previous one."""
    stmt = insert(model).values(user_id=user_id, token_hash=token_hash, expires_at=expires_at)
    stmt = stmt.on_conflict_do_update(
        index_elements=[model.user_id],
        set_={
            "token_hash": stmt.excluded.token_hash,
            "expires_at": stmt.excluded.expires_at,
            "created_at": func.now(),
        },
    )
    await session.execute(stmt)


async def store_activation_token(
    session: AsyncSession, user_id: int, token_hash: str, expires_at: datetime
) -> None:
    await store_one_time_token(session, ActivationToken, user_id, token_hash, expires_at)


async def find_live_activation_token_owner(session: AsyncSession, token_hash: str) -> int | None:
    stmt = select(ActivationToken.user_id).where(
        ActivationToken.token_hash == token_hash, ActivationToken.expires_at > func.now()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def consume_activation_token(session: AsyncSession, user_id: int, token_hash: str) -> bool:
    """Single use: one conditional DELETE … RETURNING; then activate the user if still inactive."""
    consumed = (
        await session.execute(
            delete(ActivationToken)
            .where(
                ActivationToken.user_id == user_id,
                ActivationToken.token_hash == token_hash,
                ActivationToken.expires_at > func.now(),
            )
            .returning(ActivationToken.id)
        )
    ).scalar_one_or_none()
    if consumed is None:
        return False
    await session.execute(
        update(User)
        .where(User.id == user_id, User.is_active.is_(False))
        .values(is_active=True, activated_at=func.now())
    )
    return True


async def delete_activation_token(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(ActivationToken).where(ActivationToken.user_id == user_id))


async def is_user_active(session: AsyncSession, user_id: int) -> bool | None:
    return (await session.execute(select(User.is_active).where(User.id == user_id))).scalar()


# The token tables the clean-up empties of expired rows, by the kind name its workflow uses.
EXPIRING_TOKEN_TABLES = {
    "refresh": RefreshToken.__tablename__,
    "activation": ActivationToken.__tablename__,
    "password_reset": PasswordResetToken.__tablename__,
}


async def delete_expired_token_batch(session: AsyncSession, kind: str, limit: int) -> int:
    """Delete at most `limit` expired tokens of one kind; SKIP LOCKED so a batch never waits on
    rows another transaction holds (they go in a later batch or run)."""
    table = EXPIRING_TOKEN_TABLES[kind]  # a fixed name from the map above, never client input
    result = await session.execute(
        text(
            f"DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} "  # noqa: S608
            "WHERE expires_at < now() LIMIT :limit FOR UPDATE SKIP LOCKED)"
        ),
        {"limit": limit},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
