"""Registration: register, resend the activation link, activate. Sessions are in api/sessions.py."""

from __future__ import annotations

import logging

from pydantic import BaseModel, Field
from quart import Blueprint, Response
from quart_schema import tag_blueprint, validate_request, validate_response

from api.guards import rate_limit, response_floor
from api.pages import link_params, render_page
from api.schemas import MessageResponse, Strict, error_responses
from api.services import services
from api.temporal import TemporalUnavailable
from domain.accounts import repository as repo
from domain.accounts import service as accounts
from domain.accounts.errors import InvalidActivationToken
from domain.accounts.rules import Email, NewPassword
from domain.db import transaction
from domain.security import OneTimeTokens
from workflows import messages
from workflows.ids import registration_workflow_id
from workflows.starts import account_notice_start, registration_start

log = logging.getLogger("cinema.api.accounts")
bp = Blueprint("accounts", __name__, url_prefix="/accounts")
tag_blueprint(bp, ["accounts"])

REGISTER_MESSAGE = (
    "Check your inbox: we have sent a link to activate your account. "
    "If you already have an account, we have emailed you about it instead."
)
RESEND_MESSAGE = (
    "If an account with this email awaits activation, a new activation link has been sent."
)


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


@bp.post("/register/")
@validate_request(RegisterRequest)
@validate_response(RegisterResponse, 202)
@error_responses(400, 422, 429, 503)
async def register(data: RegisterRequest) -> tuple[RegisterResponse, int]:
    """Register a new account. An activation link is emailed; the account is inactive until then.

    The answer is the same whether or not the email already has an account (its owner gets a
    notice instead), so this endpoint cannot be used to discover who is registered. Registering
    again with the same password before activating sends a fresh activation link.
    """
    svc = services()
    s = svc.settings
    async with response_floor(s.anti_enumeration_floor_seconds):
        await rate_limit(
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
        elif registration.resumes:
            await svc.temporal.signal(
                registration_start(s, registration.user_id), "resend", messages.ResendActivation()
            )
        else:
            await svc.temporal.start(account_notice_start(s, registration.user_id))
    return RegisterResponse(email=data.email, message=REGISTER_MESSAGE), 202


async def _start_registration_or_undo(user_id: int) -> None:
    """No half-written state: a new user whose registration run does not exist is removed.

    A failed start may still have started the run (only the answer was lost, e.g. a timeout),
    so the user is deleted only when the start never left this process or Temporal says there
    is no such run: deleting it under a live run would fail that run and lose the account.
    Cancellation (BaseException) is not caught: we cannot tell, so the user stays, as below.
    """
    svc = services()
    start = registration_start(svc.settings, user_id)
    try:
        await svc.temporal.start(start)
    except Exception as exc:
        if isinstance(exc, TemporalUnavailable) and not exc.sent:
            started: bool | None = False  # the start never left this process
        else:
            started = await _run_exists(start.id)
        if started:
            log.warning("start of %s failed (%s), but the run exists", start.id, type(exc).__name__)
            return
        if started is False:
            async with transaction(svc.sessions) as session:
                await repo.delete_unactivated_user(session, user_id)
        # started is None: Temporal cannot tell us, so the user stays. The account is not lost:
        # a resend-activation, or registering again with the same password, starts the run
        # (signal-with-start) and sends the link.
        raise


async def _run_exists(workflow_id: str) -> bool | None:
    """Whether a run with this id exists; None when Temporal cannot be asked."""
    try:
        return await services().temporal.describe(workflow_id) is not None
    except TemporalUnavailable:
        return None


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
        await rate_limit(
            "resend",
            data.email,
            s.rate_limit_resend,
            s.rate_limit_resend_window_seconds,
            ip_factor=4,
        )
        async with transaction(svc.sessions) as session:
            user = await repo.get_user_by_email(session, data.email)
        if user is not None and not user.is_active:
            # Signal-with-start: a running registration sends a new link; an ended one (expired)
            # is started afresh, which issues a new link too.
            await svc.temporal.signal(
                registration_start(s, user.id), "resend", messages.ResendActivation()
            )
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
    if user_id is None:
        raise InvalidActivationToken()
    # The workflow's answer is final: activated means the user is active. It refuses when the
    # link has expired or the registration no longer awaits activation.
    outcome = await svc.temporal.update(
        registration_workflow_id(user_id),
        "activate",
        messages.ActivateRequest(token_hash=token_hash),
        result_type=messages.ActivateResult,
    )
    if outcome.result is None or not outcome.result.activated:
        raise InvalidActivationToken()
    return MessageResponse(message="User account activated successfully.")


@bp.get("/activate/")
async def activation_page() -> Response:
    """The emailed activation link's page (HTML; query `token` and optional `email`).

    Its button POSTs to `/accounts/activate/`. Opening it activates nothing (a mail scanner
    fetching the link cannot activate an account); other query parameters are ignored."""
    token, email = link_params()
    return render_page(
        "activate.html",
        title="Activate your account",
        token=token,
        email=email,
        endpoint="/accounts/activate/",
        button="Activate my account",
    )


@bp.post("/activate/")
@validate_request(ActivateRequest)
@validate_response(MessageResponse, 200)
@error_responses(400, 422, 503)
async def activate(data: ActivateRequest) -> MessageResponse:
    """Activate an account with the token from the activation email (for front ends)."""
    return await _activate(data.token, data.email)
