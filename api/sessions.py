"""Sessions: login, refresh, logout, me. Served under /accounts, beside registration."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, ValidationError
from quart import Blueprint, request
from quart_schema import (
    RequestSchemaValidationError,
    document_request,
    security_scheme,
    tag_blueprint,
    validate_request,
    validate_response,
)

from api.auth import current_claims, current_user, require_user
from api.guards import LOGIN_ACCOUNT_FACTOR, rate_limit
from api.schemas import BEARER, MessageResponse, Strict, error_responses
from api.services import services
from domain.accounts import service as accounts
from domain.accounts import sessions as account_sessions
from domain.accounts.rules import Email, NewPassword, PresentedPassword
from workflows.starts import password_changed_notice_start

# Same prefix and tag as api/accounts.py: the paths are the contract, the module split is ours.
bp = Blueprint("sessions", __name__, url_prefix="/accounts")
tag_blueprint(bp, ["accounts"])


class LoginRequest(Strict):
    email: Email
    password: PresentedPassword


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires.")


class RefreshRequest(Strict):
    refresh_token: str = Field(min_length=1, max_length=4096)


class LogoutRequest(Strict):
    refresh_token: str | None = Field(default=None, max_length=4096)


class ChangePasswordRequest(Strict):
    old_password: PresentedPassword
    new_password: NewPassword  # the register rules: whatever is set here, login accepts


class MeResponse(BaseModel):
    id: int
    email: str
    group: str
    is_active: bool
    created_at: datetime
    activated_at: datetime | None


def _token_response(pair: accounts.TokenPair) -> TokenResponse:
    now = accounts.utcnow()
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=int((pair.access_expires_at - now).total_seconds()),
        refresh_expires_in=int((pair.refresh_expires_at - now).total_seconds()),
    )


@bp.post("/login/")
@validate_request(LoginRequest)
@validate_response(TokenResponse, 200)
@error_responses(400, 401, 403, 422, 429, 503)
async def login(data: LoginRequest) -> TokenResponse:
    """Log in with email and password; returns a short-lived access token and a refresh token.

    Each login is its own session: logging in on a second device keeps the first one logged in.
    """
    svc = services()
    s = svc.settings
    await rate_limit(
        "login",
        data.email,
        s.rate_limit_login,
        s.rate_limit_login_window_seconds,
        ip_factor=5,
        per_client=True,
        identity_factor=LOGIN_ACCOUNT_FACTOR,
    )
    user = await accounts.authenticate(svc.autocommit, svc.hasher, data.email, data.password)
    pair = await accounts.login(svc.autocommit, svc.tokens, user)
    return _token_response(pair)


@bp.post("/refresh/")
@validate_request(RefreshRequest)
@validate_response(TokenResponse, 200)
@error_responses(400, 401, 422, 503)
async def refresh(data: RefreshRequest) -> TokenResponse:
    """Exchange a refresh token for a new token pair. Needs only the refresh token.

    The refresh token rotates: the one sent is spent. Sending a spent one again revokes every
    token of that login (someone else may hold a copy).
    """
    svc = services()
    pair = await account_sessions.refresh(
        svc.sessions,
        svc.redis,
        svc.tokens,
        svc.settings.access_token_ttl_seconds,
        data.refresh_token,
    )
    return _token_response(pair)


@bp.post("/logout/")
@require_user
@document_request(LogoutRequest)
@validate_response(MessageResponse, 200)
@error_responses(400, 401, 422, 503)
@security_scheme(BEARER)
async def logout() -> MessageResponse:
    """Log out this session: the access token is denied at once and the session's refresh tokens
    are revoked. Other devices stay logged in. The body (with `refresh_token`) is optional."""
    svc = services()
    body = await _optional_body(LogoutRequest)
    await account_sessions.logout(
        svc.sessions,
        svc.redis,
        svc.tokens,
        svc.settings.access_token_ttl_seconds,
        current_claims(),
        body.refresh_token if body is not None else None,
    )
    return MessageResponse(message="Logged out successfully.")


async def _optional_body(model: type[LogoutRequest]) -> LogoutRequest | None:
    raw = await request.get_data()
    if not raw.strip():
        return None
    payload = await request.get_json(force=True)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise RequestSchemaValidationError(exc) from None


@bp.get("/me/")
@require_user
@validate_response(MeResponse, 200)
@error_responses(401, 503)
@security_scheme(BEARER)
async def me() -> MeResponse:
    """The current user: id, email, group and activation state."""
    user = current_user()
    return MeResponse(
        id=user.id,
        email=user.email,
        group=user.group.value,
        is_active=user.is_active,
        created_at=user.created_at,
        activated_at=user.activated_at,
    )


@bp.post("/change-password/")
@require_user
@validate_request(ChangePasswordRequest)
@validate_response(MessageResponse, 200)
@error_responses(400, 401, 409, 422, 429, 503)
@security_scheme(BEARER)
async def change_password(data: ChangePasswordRequest) -> MessageResponse:
    """Change the password (old one required; a wrong one is 400 `wrong_password`, the same
    one again 409 `password_unchanged`). Every other session is logged out; this one stays.
    The owner gets a notice email."""
    svc = services()
    s = svc.settings
    user, claims = current_user(), current_claims()
    await rate_limit(
        "change-password", str(user.id), s.rate_limit_login, s.rate_limit_login_window_seconds, 5
    )
    await account_sessions.change_password(
        svc.autocommit,
        svc.sessions,
        svc.redis,
        svc.hasher,
        s.access_token_ttl_seconds,
        user,
        data.old_password,
        data.new_password,
        keep_session=claims.family_id,
    )
    await svc.temporal.start(password_changed_notice_start(s, user.id, time.time_ns()))
    return MessageResponse(message="Password changed successfully.")
