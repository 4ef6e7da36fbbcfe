"""Password reset: request a link, open its page, complete. Answered by PasswordResetWorkflow."""

from __future__ import annotations

from pydantic import Field
from quart import Blueprint, Response
from quart_schema import tag_blueprint, validate_request, validate_response

from api.guards import rate_limit, response_floor
from api.pages import link_params, render_page
from api.schemas import MessageResponse, Strict, error_responses
from api.services import services
from domain.accounts import password_reset as resets
from domain.accounts import repository as repo
from domain.accounts.errors import InvalidResetToken, PasswordUnchanged
from domain.accounts.rules import Email, NewPassword
from domain.db import transaction
from domain.security import OneTimeTokens
from workflows.ids import password_reset_workflow_id
from workflows.password_reset_messages import (
    CompleteResetRequest,
    CompleteResetResult,
    RequestPasswordReset,
)
from workflows.starts import password_reset_start

bp = Blueprint("password_reset", __name__, url_prefix="/accounts")
tag_blueprint(bp, ["accounts"])

REQUEST_MESSAGE = (
    "If you have an account, you will receive an email with instructions to reset your password."
)
COMPLETE_MESSAGE = "Your password has been reset. Log in with your new password."


class ResetRequest(Strict):
    email: Email


class ResetComplete(Strict):
    email: Email
    token: str = Field(min_length=16, max_length=128)
    password: NewPassword


@bp.post("/reset-password/request/")
@validate_request(ResetRequest)
@validate_response(MessageResponse, 202)
@error_responses(400, 422, 429, 503)
async def request_reset(data: ResetRequest) -> tuple[MessageResponse, int]:
    """Email a link to reset the password. A new request replaces the previous link.

    The answer is the same, in status, body and time, whether or not the email has an active
    account.
    """
    svc = services()
    s = svc.settings
    async with response_floor(s.anti_enumeration_floor_seconds):
        await rate_limit(
            "reset",
            data.email,
            s.rate_limit_reset,
            s.rate_limit_reset_window_seconds,
            ip_factor=4,
        )
        async with transaction(svc.sessions) as session:
            user = await repo.get_user_by_email(session, data.email)
        if user is not None and user.is_active:
            # Signal-with-start: a running reset issues a new token (the old one stops
            # working); otherwise a new run starts and issues one.
            await svc.temporal.signal(
                password_reset_start(s, user.id), "request", RequestPasswordReset()
            )
    return MessageResponse(message=REQUEST_MESSAGE), 202


@bp.get("/reset-password/")
async def reset_page() -> Response:
    """The emailed reset link's page (HTML; query `token` and `email`).

    A form for the new password whose button POSTs to `/accounts/reset-password/complete/`.
    Opening it changes nothing; other query parameters (`utm_*`) are ignored, and a broken link
    shows a page saying so."""
    token, email = link_params()
    return render_page(
        "reset_password.html",
        title="Choose a new password",
        token=token if email else "",
        email=email,
        endpoint="/accounts/reset-password/complete/",
        button="Set my new password",
    )


@bp.post("/reset-password/complete/")
@validate_request(ResetComplete)
@validate_response(MessageResponse, 200)
@error_responses(400, 409, 422, 429, 503)
async def complete_reset(data: ResetComplete) -> MessageResponse:
    """Set a new password with the token from the reset email.

    Every session of the account is logged out, and a notice is emailed.

    A wrong token is refused and changes nothing: the right one keeps working. The current
    password is refused (409). Attempts are limited per email and client address.
    """
    svc = services()
    s = svc.settings
    # Per (email, client): a stranger's wrong tokens cannot lock the owner out.
    await rate_limit(
        "reset-complete",
        data.email,
        s.rate_limit_reset_complete,
        s.rate_limit_reset_complete_window_seconds,
        ip_factor=4,
        per_client=True,
    )
    token_hash = OneTimeTokens.hash(data.token)
    async with transaction(svc.sessions) as session:
        # Read-only: a wrong token consumes nothing and costs no password hash.
        user_id = await resets.find_live_token_owner(session, token_hash)
        user = await repo.get_user(session, user_id) if user_id is not None else None
    if user is None or user.email != data.email:
        raise InvalidResetToken()
    # W8: the same password again would leave a leaked one in place (only the token's holder
    # learns this, so it reveals nothing to a stranger).
    same, _ = await svc.hasher.verify(data.password, user.hashed_password)
    if same:
        raise PasswordUnchanged()
    password_hash = await svc.hasher.hash(data.password)
    outcome = await svc.temporal.update(
        password_reset_workflow_id(user.id),
        "complete",
        CompleteResetRequest(token_hash=token_hash, password_hash=password_hash),
        result_type=CompleteResetResult,
    )
    if outcome.result is None or not outcome.result.reset:
        raise InvalidResetToken()
    return MessageResponse(message=COMPLETE_MESSAGE)
