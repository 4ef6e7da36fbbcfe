"""Bearer-token authentication: `@require_user` puts the caller on `g`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar, cast

from quart import g, request

from api.services import services
from domain.accounts import service as accounts
from domain.accounts.errors import InvalidToken, TokenRevoked
from domain.accounts.repository import AuthUser, get_auth_user
from domain.errors import NotAuthenticated
from domain.redis_store import is_session_denied
from domain.security import TokenClaims

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def bearer_token() -> str:
    header = request.headers.get("Authorization")
    if not header:
        raise NotAuthenticated("The Authorization header is missing.")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise InvalidToken("Expected 'Authorization: Bearer <token>'.")
    return token


async def authenticate_request() -> tuple[AuthUser, TokenClaims]:
    """Signature and claims, then the deny-list (Redis) and the user's state (Postgres), the
    two looked up concurrently: a revoked token or a deactivated user is refused at once."""
    svc = services()
    claims = svc.tokens.decode(bearer_token(), "access")

    async def load_user() -> AuthUser | None:
        async with svc.autocommit.connect() as conn:  # one statement: no BEGIN/COMMIT
            return await get_auth_user(conn, claims.user_id)

    denied, user = await asyncio.gather(
        is_session_denied(svc.redis, claims.family_id),
        load_user(),
        return_exceptions=True,
    )
    for outcome in (denied, user):
        if isinstance(outcome, BaseException):
            raise outcome
    if denied:
        raise TokenRevoked()
    return accounts.check_user_may_use(cast(AuthUser | None, user), claims), claims


def require_user(func: F) -> F:
    """The caller must present a live access token of an active user."""

    @wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.user, g.claims = await authenticate_request()
        return await func(*args, **kwargs)

    return cast(F, wrapper)


def current_user() -> AuthUser:
    return cast(AuthUser, g.user)


def current_claims() -> TokenClaims:
    return cast(TokenClaims, g.claims)


def client_ip() -> str:
    """The peer address, or the client's address as seen by a trusted proxy chain."""
    hops = services().settings.trusted_proxy_hops
    if hops:
        forwarded = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",") if p]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.remote_addr or "unknown"
