"""Session queries: the refresh tokens of each login (refresh family = session id)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select, union, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from domain.db import HotQuery
from domain.models import RefreshToken

_INSERT_REFRESH_TOKEN = HotQuery(
    insert(RefreshToken).values(
        {c: bindparam(c) for c in ("jti", "family_id", "user_id", "issued_at", "expires_at")}
    )
)


async def insert_refresh_token(
    db: AsyncConnection | AsyncSession,
    *,
    jti: str,
    family_id: str,
    user_id: int,
    issued_at: datetime,
    expires_at: datetime,
) -> None:
    await _INSERT_REFRESH_TOKEN.execute(
        db,
        jti=jti,
        family_id=family_id,
        user_id=user_id,
        issued_at=issued_at,
        expires_at=expires_at,
    )


async def rotate_refresh_token(
    session: AsyncSession, jti: str, user_id: int, replaced_by: str
) -> bool:
    """Compare-and-set: only a live, unrevoked token can be rotated, and only once."""
    row = (
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.jti == jti,
                RefreshToken.user_id == user_id,
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > func.now(),
            )
            .values(revoked_at=func.now(), replaced_by=replaced_by)
            .returning(RefreshToken.jti)
        )
    ).scalar_one_or_none()
    return row is not None


async def get_refresh_token(session: AsyncSession, jti: str) -> RefreshToken | None:
    return await session.get(RefreshToken, jti)


async def revoke_refresh_family(session: AsyncSession, family_id: str, user_id: int) -> int:
    result = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.family_id == family_id,
            RefreshToken.user_id == user_id,
            RefreshToken.revoked_at.is_(None),
        )
        .values(revoked_at=func.now())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def revoke_user_families(
    session: AsyncSession, user_id: int, except_family: str | None
) -> set[str]:
    """Revoke every unrevoked refresh token of a user but those of `except_family`; returns the
    families whose access tokens may still live: the ones revoked now and every one whose last
    refresh token has not expired yet (revoked before or not). One statement: the UPDATE and the
    SELECT see the same snapshot, so a family is in the answer whichever of the two finds it."""
    revoke = update(RefreshToken).where(
        RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
    )
    live = select(RefreshToken.family_id).where(
        RefreshToken.user_id == user_id, RefreshToken.expires_at > func.now()
    )
    if except_family is not None:
        revoke = revoke.where(RefreshToken.family_id != except_family)
        live = live.where(RefreshToken.family_id != except_family)
    revoked = revoke.values(revoked_at=func.now()).returning(RefreshToken.family_id).cte("revoked")
    stmt = union(select(revoked.c.family_id), live)
    return set((await session.execute(stmt)).scalars())
