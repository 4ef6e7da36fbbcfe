"""Ending sessions: a user's refresh families revoked in Postgres and their live access tokens
denied in Redis (one key per session id), so no token of a revoked session works a moment on."""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.accounts import repository as repo
from domain.accounts.errors import PasswordUnchanged, WrongPassword
from domain.accounts.repository import AuthUser
from domain.accounts.service import verify_password
from domain.db import transaction
from domain.redis_store import deny_session
from domain.security import PasswordHasher


async def revoke_user_sessions(
    session: AsyncSession,
    redis: Redis,
    access_ttl_seconds: int,
    user_id: int,
    except_session: str | None = None,
) -> int:
    """End every session of a user but `except_session`; returns how many were ended.

    Without an exception the user-wide mark (users.tokens_valid_after) moves too, so even a
    token of a session unknown here is refused. Call inside the caller's transaction; the Redis
    entries are written before it commits (an extra deny entry is harmless, a missing one is not).
    """
    families = await repo.revoke_user_families(session, user_id, except_session)
    if except_session is None:
        await repo.move_tokens_valid_after(session, user_id)
    await deny_sessions(redis, families, access_ttl_seconds)
    return len(families)


async def deny_sessions(redis: Redis, families: Iterable[str], ttl_seconds: int) -> None:
    """Deny every access token of these sessions: all the keys in one pipelined round trip
    (not a transaction: each key stands alone, and a repeated write is harmless)."""
    async with redis.pipeline(transaction=False) as pipe:
        for family in sorted(families):
            # A pipeline is a Redis client that queues the command; awaiting it returns at once.
            await deny_session(pipe, family, ttl_seconds)
        await pipe.execute()


async def change_password(
    db: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    hasher: PasswordHasher,
    access_ttl_seconds: int,
    user: AuthUser,
    old_password: str,
    new_password: str,
    keep_session: str,
) -> int:
    """Change-password: `old_password` checked like a login's (WrongPassword), a new password
    equal to it refused (PasswordUnchanged), then the new hash stored and every session but
    `keep_session` ended in one transaction. Returns how many sessions were ended.

    `db` is the autocommit engine for the check (no connection held while hashing). The hash is
    replaced only if it is still the one the old password was checked against, so of two
    concurrent changes with the same old password one wins and the other is WrongPassword."""
    verified = await verify_password(db, hasher, user.email, old_password)
    if verified is None or verified[0].id != user.id:
        raise WrongPassword()
    # The old password is the current one, so comparing the two strings is enough (no hash).
    if new_password == old_password:
        raise PasswordUnchanged()
    hashed = await hasher.hash(new_password)
    async with transaction(sessions) as session:
        if not await repo.replace_password_hash(
            session, user.id, verified[0].hashed_password, hashed
        ):
            raise WrongPassword()
        return await revoke_user_sessions(
            session, redis, access_ttl_seconds, user.id, except_session=keep_session
        )
