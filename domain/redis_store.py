"""Short-lived state shared by API processes: the access-token deny-list and rate limits."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime

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


def _deny_key(jti: str) -> str:
    return f"auth:deny:{jti}"


async def deny_access_token(redis: Redis, jti: str, expires_at: datetime) -> None:
    """Deny a token's jti until the moment it would have expired anyway."""
    ttl = math.ceil((expires_at - datetime.now(UTC)).total_seconds())
    if ttl > 0:
        await redis.set(_deny_key(jti), "1", ex=ttl)


async def is_access_token_denied(redis: Redis, jti: str) -> bool:
    return bool(await redis.exists(_deny_key(jti)))


async def hit_rate_limit(redis: Redis, bucket: str, identity: str, limit: int, window: int) -> None:
    """Fixed-window counter. Raises RateLimited (429 + Retry-After) once `limit` is passed.

    The identity (an IP address or an email) is hashed: no personal data in Redis keys.
    """
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    key = f"rl:{bucket}:{digest}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, window, nx=True)
        pipe.ttl(key)
        count, _, ttl = await pipe.execute()
    if int(count) > limit:
        raise RateLimited(retry_after=max(int(ttl), 1))
