"""Domain errors: each carries an HTTP status and a stable error code for the JSON error body."""

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


class InvalidToken(DomainError):
    status = 401
    code = "invalid_token"
    default_detail = "The token is invalid."


class TokenExpired(DomainError):
    status = 401
    code = "token_expired"
    default_detail = "The token has expired."


class TokenRevoked(DomainError):
    status = 401
    code = "token_revoked"
    default_detail = "The token has been revoked."


class RefreshTokenReused(DomainError):
    status = 401
    code = "refresh_token_reused"
    commit_before_raise = True
    default_detail = "This refresh token was already used; all sessions of this login were revoked."


class InvalidCredentials(DomainError):
    status = 401
    code = "invalid_credentials"
    default_detail = "Invalid email or password."


class AccountNotActivated(DomainError):
    status = 403
    code = "account_not_activated"
    default_detail = "Your account is not activated."


class InactiveUser(DomainError):
    status = 401
    code = "inactive_user"
    default_detail = "This account is not active."


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"
    default_detail = "You do not have permission to do this."


class InvalidActivationToken(DomainError):
    status = 400
    code = "invalid_activation_token"
    default_detail = "The activation link is invalid or has expired."


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
