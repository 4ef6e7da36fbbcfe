"""What stands in front of a handler's work: who may call it (`@require_group`, and
`optional_user()` for public reads that show staff more), per-identity rate limits, and the
response floor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import wraps
from typing import Any, TypeVar, cast

from quart import g, request

from api.auth import authenticate_request, client_ip
from api.services import services
from domain.accounts.repository import AuthUser
from domain.errors import PermissionDenied
from domain.models import UserGroup
from domain.redis_store import Limit, hit_rate_limits

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
STAFF = (UserGroup.MODERATOR, UserGroup.ADMIN)


def require_group(*groups: UserGroup) -> Callable[[F], F]:
    """The caller must be logged in (401 otherwise) and in one of `groups` (403 otherwise)."""

    def decorator(func: F) -> F:
        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.user, g.claims = await authenticate_request()
            if g.user.group not in groups:
                raise PermissionDenied()
            return await func(*args, **kwargs)

        return cast(F, wrapper)

    return decorator


async def optional_user() -> AuthUser | None:
    """The caller when a token is sent (a bad token is still a 401); None for anonymous."""
    if "Authorization" not in request.headers:
        return None
    user, _ = await authenticate_request()
    return user


async def caller_is_staff() -> bool:
    user = await optional_user()
    return user is not None and user.group in STAFF


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


# One stranger's wrong passwords must not lock the owner out: login counts per (account, client)
# tightly; the account as a whole gets this many times more, from all clients.
LOGIN_ACCOUNT_FACTOR = 5


async def rate_limit(
    bucket: str,
    identity: str,
    limit: int,
    window: int,
    ip_factor: int,
    *,
    per_client: bool = False,
    identity_factor: int | None = None,
) -> None:
    """Count one attempt for this identity (an email) and for the client's address; the
    address may make `ip_factor` times as many, so one network cannot try every account.

    With `per_client` the tight count is per (identity, client) instead, so a stranger spending
    an account's budget does not lock its owner out; `identity_factor` then also caps the
    identity as a whole, from all clients, at that many times as many (login)."""
    ip = client_ip()
    limits = [Limit(f"{bucket}-ip", ip, limit * ip_factor, window)]
    if not per_client:
        limits.append(Limit(bucket, identity, limit, window))
    else:
        limits.append(Limit(f"{bucket}-client", f"{identity}\n{ip}", limit, window))
        if identity_factor is not None:
            limits.append(Limit(bucket, identity, limit * identity_factor, window))
    await hit_rate_limits(services().redis, *limits)
