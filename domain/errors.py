"""Domain errors: each carries an HTTP status and a stable error code for the JSON error body.

Here: the base class and the generic errors every area uses. Each area's own errors live beside
it, in domain/<area>/errors.py (accounts, catalog, cart, payments, refunds, profiles)."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    default_detail: ClassVar[str] = "The request could not be processed."
    # True when the writes made before the error must still be committed (e.g. revocations).
    commit_before_raise: ClassVar[bool] = False

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.default_detail
        self.extra = extra
        super().__init__(self.detail)


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"
    default_detail = "Authentication credentials were not provided."


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"
    default_detail = "You do not have permission to do this."


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    default_detail = "Too many attempts. Try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"
    default_detail = "A service this request needs is unavailable. Try again shortly."


# --- generic: not found, invalid as a whole, conflict ----------------------------------------


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_detail = "Not found."


class InvalidFields(DomainError):
    """A combination of fields that is invalid as a whole (e.g. a PATCH merged with the stored
    row), reported in the same shape as request validation."""

    status = 422
    code = "validation_error"

    @classmethod
    def from_validation(cls, error: Any, where: str) -> InvalidFields:
        fields = [
            {
                "loc": [where, *item["loc"]],
                "msg": str(item["msg"]).removeprefix("Value error, "),
                "type": item["type"],
            }
            for item in error.errors(include_input=False, include_url=False)
        ]
        summary = "; ".join(f"{'.'.join(map(str, f['loc'][1:]))}: {f['msg']}" for f in fields)
        return cls(summary or "Invalid request.", fields=fields)


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_detail = "The request conflicts with the current state."
