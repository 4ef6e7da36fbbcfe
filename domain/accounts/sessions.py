"""Sessions across Postgres and Redis: refresh (and a spent token's reuse), logout, password
change, and ending every session of a user. A session's refresh family is revoked in Postgres
and its live access tokens denied in Redis (one key per session id), so no token of an ended
session works a moment on."""

from __future__ import annotations

import math
from collections.abc import Iterable

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.accounts import repository as repo
from domain.accounts import service as accounts
from domain.accounts import session_repository as session_repo
from domain.accounts.errors import (
    InvalidToken,
    PasswordUnchanged,
    RefreshTokenReused,
    TokenExpired,
    WrongPassword,
)
from domain.accounts.repository import AuthUser
from domain.accounts.service import TokenPair, verify_password
from domain.db import transaction
from domain.redis_store import deny_session
from domain.security import PasswordHasher, TokenClaims, TokenService


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
    families = await session_repo.revoke_user_families(session, user_id, except_session)
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


async def refresh(
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    tokens: TokenService,
    access_ttl_seconds: int,
    refresh_token: str,
) -> TokenPair:
    """Rotate a refresh token in its own transaction. A spent one sent again (someone else may
    hold a copy) is RefreshTokenReused: its family's refresh tokens are revoked (committed with
    the error), then the whole session ends, its live access tokens too (denied in Redis)."""
    try:
        async with transaction(sessions) as session:
            return await accounts.refresh(session, tokens, refresh_token)
    except RefreshTokenReused:
        family = tokens.decode(refresh_token, "refresh").family_id
        await deny_sessions(redis, [family], access_ttl_seconds)
        raise


async def logout(
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    tokens: TokenService,
    access_ttl_seconds: int,
    claims: TokenClaims,
    other_refresh_token: str | None,
) -> None:
    """End the caller's session (`claims`, its access token's) and, when the caller sends the
    refresh token of another session of their own, that one too. Someone else's, an expired or
    a malformed refresh token changes nothing.

    The session-wide deny entry refuses every access token of the session, the presented one
    included, so the token's own jti needs no entry. It lives as long as the longest of them:
    the access lifetime, or the presented token's remaining life if that is longer (a token
    issued before the lifetime setting was shortened). Redis first, then Postgres."""
    other: TokenClaims | None = None
    if other_refresh_token:
        try:
            other = tokens.decode(other_refresh_token, "refresh")
        except (InvalidToken, TokenExpired):
            other = None
        if other is not None and other.user_id != claims.user_id:
            other = None
    remaining = math.ceil((claims.expires_at - accounts.utcnow()).total_seconds())
    families = [claims.family_id] if other is None else [claims.family_id, other.family_id]
    await deny_sessions(redis, families, max(access_ttl_seconds, remaining))
    async with transaction(sessions) as session:
        await accounts.logout(session, claims)
        if other is not None:
            await accounts.logout(session, other)


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
