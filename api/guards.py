"""Who may call a route: `@require_group(...)` for writes; `optional_user()` for public reads
that show more to staff."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar, cast

from quart import g, request

from api.auth import authenticate_request
from domain.accounts.repository import AuthUser
from domain.errors import PermissionDenied
from domain.models import UserGroup

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
