"""Password-reset queries: the one live reset token per user, and setting the new password.

Only the SHA-256 of a token is stored. A reset sets the password and revokes every session of
the user (every refresh token, and every access token through `users.tokens_valid_after`) in
one transaction.
"""

from __future__ import annotations

from datetime import datetime

from redis.asyncio import Redis
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts.repository import store_one_time_token
from domain.accounts.sessions import revoke_user_sessions
from domain.models import PasswordResetToken, User


async def store_token(
    session: AsyncSession, user_id: int, token_hash: str, expires_at: datetime
) -> bool:
    """Store the user's reset token, replacing (and so invalidating) the previous one.

    False, and nothing stored, when the user does not exist or is not active."""
    active = (
        await session.execute(
            select(User.is_active).where(User.id == user_id).with_for_update(read=True)
        )
    ).scalar()
    if not active:
        return False
    await store_one_time_token(session, PasswordResetToken, user_id, token_hash, expires_at)
    return True


async def find_live_token_owner(session: AsyncSession, token_hash: str) -> int | None:
    """Read-only: whose live token this is (nothing is consumed or counted)."""
    stmt = select(PasswordResetToken.user_id).where(
        PasswordResetToken.token_hash == token_hash, PasswordResetToken.expires_at > func.now()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def consume_token_and_set_password(
    session: AsyncSession,
    redis: Redis,
    access_ttl_seconds: int,
    user_id: int,
    token_hash: str,
    password_hash: str,
) -> bool:
    """Single use: one conditional DELETE … RETURNING, then the new password for an active user
    and every session of the user revoked. Idempotent for the activity's retries."""
    consumed = (
        await session.execute(
            delete(PasswordResetToken)
            .where(
                PasswordResetToken.user_id == user_id,
                PasswordResetToken.token_hash == token_hash,
                PasswordResetToken.expires_at > func.now(),
            )
            .returning(PasswordResetToken.id)
        )
    ).scalar_one_or_none()
    if consumed is None:
        # A retry of a reset that committed finds its own hash (salted: no one else's) in place.
        current = (
            await session.execute(select(User.hashed_password).where(User.id == user_id))
        ).scalar()
        return current == password_hash
    updated = (
        await session.execute(
            update(User)
            .where(User.id == user_id, User.is_active.is_(True))
            .values(hashed_password=password_hash, tokens_valid_after=func.now())
            .returning(User.id)
        )
    ).scalar_one_or_none()
    if updated is None:  # deactivated meanwhile: the token is spent, the password unchanged
        return False
    # Every session ends at once: refresh families revoked and each session's access tokens
    # denied in Redis, which also covers a token issued earlier in the reset's own second (the
    # user-wide mark compares whole seconds).
    await revoke_user_sessions(session, redis, access_ttl_seconds, user_id)
    return True


async def delete_token(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(PasswordResetToken).where(PasswordResetToken.user_id == user_id))
