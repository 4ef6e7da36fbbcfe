"""Accounts: register, activate, login, refresh, logout, me."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from quart import Blueprint, request
from quart_schema import (
    RequestSchemaValidationError,
    document_request,
    security_scheme,
    tag_blueprint,
    validate_querystring,
    validate_request,
    validate_response,
)

from api.auth import client_ip, current_claims, current_user, require_user
from api.schemas import MessageResponse, error_responses
from api.services import services
from domain.accounts import repository as repo
from domain.accounts import service as accounts
from domain.accounts.rules import Email, NewPassword, PresentedPassword
from domain.db import transaction
from domain.errors import InvalidActivationToken, InvalidToken, TokenExpired
from domain.redis_store import Limit, deny_access_token, hit_rate_limits
from domain.security import OneTimeTokens

bp = Blueprint("accounts", __name__, url_prefix="/accounts")
tag_blueprint(bp, ["accounts"])
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]

REGISTER_MESSAGE = (
    "Check your inbox: we have sent a link to activate your account. "
    "If you already have an account, we have emailed you about it instead."
)
RESEND_MESSAGE = (
    "If an account with this email awaits activation, a new activation link has been sent."
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RegisterRequest(Strict):
    email: Email
    password: NewPassword


class RegisterResponse(BaseModel):
    email: str
    message: str


class EmailRequest(Strict):
    email: Email


class ActivateRequest(Strict):
    token: str = Field(min_length=16, max_length=128)
    email: Email | None = Field(
        default=None, description="Optional; when given it must be the account's email."
    )


class ActivateQuery(ActivateRequest):
    # quart-schema lifts `required` from the field schema onto the query parameter.
    token: str = Field(min_length=16, max_length=128, json_schema_extra={"required": True})


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


class MeResponse(BaseModel):
    id: int
    email: str
    group: str
    is_active: bool
    created_at: datetime
    activated_at: datetime | None


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


async def _limit(bucket: str, identity: str, limit: int, window: int, ip_factor: int) -> None:
    """Count one attempt for this identity (an email) and for the client's address."""
    await hit_rate_limits(
        services().redis,
        Limit(f"{bucket}-ip", client_ip(), limit * ip_factor, window),
        Limit(bucket, identity, limit, window),
    )


def _token_response(pair: accounts.TokenPair) -> TokenResponse:
    now = accounts.utcnow()
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=int((pair.access_expires_at - now).total_seconds()),
        refresh_expires_in=int((pair.refresh_expires_at - now).total_seconds()),
    )


@bp.post("/register/")
@validate_request(RegisterRequest)
@validate_response(RegisterResponse, 202)
@error_responses(400, 422, 429, 503)
async def register(data: RegisterRequest) -> tuple[RegisterResponse, int]:
    """Register a new account. An activation link is emailed; the account is inactive until then.

    The answer is the same whether or not the email already has an account (its owner gets a
    notice instead), so this endpoint cannot be used to discover who is registered.
    """
    svc = services()
    s = svc.settings
    async with response_floor(s.anti_enumeration_floor_seconds):
        await _limit(
            "register",
            data.email,
            s.rate_limit_register,
            s.rate_limit_register_window_seconds,
            ip_factor=4,
        )
        async with transaction(svc.sessions) as session:
            registration = await accounts.register(session, svc.hasher, data.email, data.password)
        if registration.created:
            await _start_registration_or_undo(registration.user_id)
        else:
            await svc.workflows.notify_existing_account(registration.user_id)
    return RegisterResponse(email=data.email, message=REGISTER_MESSAGE), 202


async def _start_registration_or_undo(user_id: int) -> None:
    """No half-written state: if the workflow cannot be started, the new user is removed."""
    svc = services()
    try:
        await svc.workflows.start_registration(user_id)
    except BaseException:
        async with transaction(svc.sessions) as session:
            await repo.delete_unactivated_user(session, user_id)
        raise


@bp.post("/resend-activation/")
@validate_request(EmailRequest)
@validate_response(MessageResponse, 202)
@error_responses(400, 422, 429, 503)
async def resend_activation(data: EmailRequest) -> tuple[MessageResponse, int]:
    """Send a fresh activation link to an account that is not active yet.

    Answers the same for unknown, active and inactive accounts.
    """
    svc = services()
    s = svc.settings
    async with response_floor(s.anti_enumeration_floor_seconds):
        await _limit(
            "resend",
            data.email,
            s.rate_limit_resend,
            s.rate_limit_resend_window_seconds,
            ip_factor=4,
        )
        async with transaction(svc.sessions) as session:
            user = await repo.get_user_by_email(session, data.email)
        if user is not None and not user.is_active:
            await svc.workflows.start_registration(user.id, resend=True)
    return MessageResponse(message=RESEND_MESSAGE), 202


async def _activate(token: str, email: str | None) -> MessageResponse:
    svc = services()
    token_hash = OneTimeTokens.hash(token)
    async with transaction(svc.sessions) as session:
        user_id = await repo.find_live_activation_token_owner(session, token_hash)
        if (
            user_id is not None
            and email is not None
            and await repo.get_user_email(session, user_id) != email
        ):
            user_id = None
    if user_id is None or not await svc.workflows.activate(user_id, token_hash):
        raise InvalidActivationToken()
    return MessageResponse(message="User account activated successfully.")


@bp.get("/activate/")
@validate_querystring(ActivateQuery)
@validate_response(MessageResponse, 200)
@error_responses(400, 422, 503)
async def activate_from_link(query_args: ActivateQuery) -> MessageResponse:
    """Activate an account with the token from the activation email (the emailed link)."""
    return await _activate(query_args.token, query_args.email)


@bp.post("/activate/")
@validate_request(ActivateRequest)
@validate_response(MessageResponse, 200)
@error_responses(400, 422, 503)
async def activate(data: ActivateRequest) -> MessageResponse:
    """Activate an account with the token from the activation email (for front ends)."""
    return await _activate(data.token, data.email)


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
    await _limit(
        "login", data.email, s.rate_limit_login, s.rate_limit_login_window_seconds, ip_factor=5
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
    async with transaction(svc.sessions) as session:
        pair = await accounts.refresh(session, svc.tokens, data.refresh_token)
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
    claims = current_claims()
    body = await _optional_body(LogoutRequest)
    other_family = None
    if body is not None and body.refresh_token:
        try:
            presented = svc.tokens.decode(body.refresh_token, "refresh")
        except (InvalidToken, TokenExpired):
            presented = None  # an expired or malformed refresh token changes nothing
        if presented is not None and presented.user_id == claims.user_id:
            other_family = presented
    await deny_access_token(svc.redis, claims.jti, claims.expires_at)
    async with transaction(svc.sessions) as session:
        await accounts.logout(session, claims)
        if other_family is not None:
            await accounts.logout(session, other_family)
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
