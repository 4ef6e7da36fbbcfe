"""Short-lived state shared by API processes: the access-token deny-list and rate limits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from redis.asyncio import Redis

from domain.errors import RateLimited


def create_redis(url: str) -> Redis:
    # Short timeouts: with Redis down a request answers 503 quickly instead of hanging.
    return Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
        decode_responses=True,
    )


def _session_deny_key(session_id: str) -> str:
    return f"auth:deny-sid:{session_id}"


async def deny_session(redis: Redis, session_id: str, ttl_seconds: int) -> None:
    """Deny every access token of a session (refresh family) for the access tokens' lifetime."""
    await redis.set(_session_deny_key(session_id), "1", ex=max(ttl_seconds, 1))


async def is_session_denied(redis: Redis, session_id: str) -> bool:
    """Every access token of the session (refresh family) is refused: logout, a password
    change or reset, a reused refresh token. One EXISTS, one round trip. (Tokens are denied
    by session only: the per-token `auth:deny:{jti}` keys of before lived one access lifetime.)"""
    return bool(await redis.exists(_session_deny_key(session_id)))


@dataclass(frozen=True, slots=True)
class Limit:
    bucket: str
    identity: str  # an IP address or an email: hashed before it becomes a key
    limit: int
    window_seconds: int

    @property
    def key(self) -> str:
        return f"rl:{self.bucket}:{hashlib.sha256(self.identity.encode()).hexdigest()[:32]}"


async def hit_rate_limits(redis: Redis, *limits: Limit) -> None:
    """Fixed-window counters, all counted in one round trip. Raises RateLimited (429 with
    Retry-After: the longest wait) when any of them is past its limit."""
    async with redis.pipeline(transaction=False) as pipe:
        for limit in limits:
            pipe.incr(limit.key)
            pipe.expire(limit.key, limit.window_seconds, nx=True)
            pipe.ttl(limit.key)
        replies = await pipe.execute()
    waits = [
        max(int(ttl), 1)
        for limit, count, ttl in zip(limits, replies[0::3], replies[2::3], strict=True)
        if int(count) > limit.limit
    ]
    if waits:
        raise RateLimited(retry_after=max(waits))
