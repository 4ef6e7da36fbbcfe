"""Refunds: the buyer asks for their paid order's money back (`POST /orders/refund/{id}/`)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import security_scheme, tag_blueprint, validate_response
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.auth import current_user, require_user
from api.schemas import BEARER, MONEY, error_responses
from api.services import services
from domain.db import transaction
from domain.models import Refund
from domain.refunds import service as refunds
from workflows.starts import refund_start

# No url_prefix: the path sits under /orders, beside the order routes of api/orders.py.
bp = Blueprint("refunds", __name__)
tag_blueprint(bp, ["orders"])


class RefundAccepted(BaseModel):
    refund_id: int
    status: Literal["requested", "pending", "succeeded", "failed"] = Field(
        description="`requested` until Stripe accepts it, then `pending` until Stripe settles it."
    )
    amount: Decimal = Field(description=MONEY)
    currency: str


@bp.post("/orders/refund/<int:order_id>/")
@require_user
@validate_response(RefundAccepted, 202)
@error_responses(401, 404, 409, 503)
@security_scheme(BEARER)
async def request_refund(order_id: int) -> tuple[RefundAccepted, int]:
    """Ask for a full refund of your paid order, within the refund window after paying.

    Answers 202 at once: the refund is made with Stripe in the background, and you get an
    email when it is done (or failed). Asking again while it is in flight answers 202 with the
    same refund (so a retry after a 503 is safe); after it succeeded, 409 `already_refunded`.
    Other 409s: `order_not_paid`, `order_not_refundable` (with `order_status`),
    `refund_window_closed`.
    """
    svc = services()
    user = current_user()
    async with transaction(svc.sessions) as session:
        opened = await refunds.request_buyer_refund(
            session,
            order_id=order_id,
            user_id=user.id,
            now=datetime.now(UTC),
            window=timedelta(days=svc.settings.refund_window_days),
        )
    return await accepted(opened.refund, buyer_id=user.id)


async def accepted(refund: Refund, *, buyer_id: int) -> tuple[RefundAccepted, int]:
    """Start the refund's workflow, after the commit, and answer 202 (the buyer's route and
    the admin's). If Temporal is down this is a 503, and the row waits in `requested`; the
    same POST again finds it and starts (or joins) its run."""
    svc = services()
    # WorkflowAlreadyStartedError: its run has ended already; the row tells where it stands.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await svc.temporal.start(refund_start(svc.settings, refund.id, refund.order_id, buyer_id))
    return (
        RefundAccepted(
            refund_id=refund.id,
            status=refund.status.value,
            amount=refund.amount,
            currency=refund.currency,
        ),
        202,
    )
