"""What stands in front of a handler's work: per-identity rate limits and the response floor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from api.auth import client_ip
from api.services import services
from domain.redis_store import Limit, hit_rate_limits


@asynccontextmanager
async def response_floor(seconds: float) -> AsyncIterator[None]:
    """Answer no sooner than `seconds`: known and unknown emails take the same time."""
    started = time.monotonic()
    try:
        yield
    finally:
        remaining = seconds - (time.monotonic() - started)
        if remaining > 0:
            await asyncio.sleep(remaining)


async def rate_limit(bucket: str, identity: str, limit: int, window: int, ip_factor: int) -> None:
    """Count one attempt for this identity (an email) and for the client's address; the
    address may make `ip_factor` times as many, so one network cannot try every account."""
    await hit_rate_limits(
        services().redis,
        Limit(f"{bucket}-ip", client_ip(), limit * ip_factor, window),
        Limit(bucket, identity, limit, window),
    )
