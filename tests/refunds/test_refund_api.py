"""POST /orders/refund/{order_id}/ end to end: the API, RefundWorkflow on a real worker,
Postgres, the SMTP sink and the Stripe emulator (through the real `stripe` client)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from domain.db import constraint_name, transaction
from domain.models import Order, OrderStatus
from tests.conftest import Stack
from tests.refunds.fixtures import Buyer, RefundEnv, buyer, moderator, new_buyer, refund_env
from tests.refunds.support import (
    SUCCEEDED_THEN_FAILED,
    accepted_refund,
    new_movies,
    paid_order,
    post_refund,
    refund_count,
    snapshot,
)
from tests.support import text_of, wait_for_mail
from tests.workflows.support import eventually, history_text, maybe_record
from workflows.ids import refund_workflow_id
from workflows.refund_messages import RefundResult

__all__ = ["buyer", "moderator", "refund_env"]  # fixtures used by name

PRICES = [Decimal("9.99"), Decimal("4.50")]


async def _result(stack: Stack, refund_id: int) -> RefundResult:
    handle = stack.client.get_workflow_handle(
        refund_workflow_id(refund_id), result_type=RefundResult
    )
    return await asyncio.wait_for(handle.result(), timeout=60)


async def test_refund_returns_the_money_revokes_the_movies_and_tells_the_buyer(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any
) -> None:
    movies = await new_movies(client, stack, moderator, 2)
    paid = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies,
        prices=PRICES,
    )  # fmt: skip
    body = await accepted_refund(refund_env.api, paid.order_id, buyer.headers)
    assert body["status"] in ("requested", "pending")
    assert Decimal(body["amount"]) == Decimal("14.49") and body["currency"] == "usd"

    result = await _result(stack, body["refund_id"])
    assert result.status == "succeeded"
    after = await snapshot(stack, paid)
    assert after.order_status == "refunded"
    assert after.payment_status == "refunded"
    assert after.refunded_amount == Decimal("14.49")
    assert after.owned_movies == []
    assert after.refunds == [("succeeded", Decimal("14.49"), None)]
    [mail] = await wait_for_mail(stack.mail, buyer.email, "refund is done")
    assert "14.49 USD" in text_of(mail) and f"/orders/{paid.order_id}/" in text_of(mail)
    [at_stripe] = await refund_env.emulator.refunds_of(paid.payment_intent)
    assert at_stripe["amount"] == 1449 and at_stripe["status"] == "succeeded"
    assert at_stripe["metadata"] == {
        "refund_id": str(body["refund_id"]),
        "order_id": str(paid.order_id),
    }
    # Made with our key, so a retried activity can never make a second refund.
    key = await refund_env.emulator.idempotency_key_of(at_stripe["id"])
    assert key == f"refund:{body['refund_id']}"
    handle = stack.client.get_workflow_handle(refund_workflow_id(body["refund_id"]))
    assert buyer.email not in history_text(await handle.fetch_history())
    await maybe_record(handle, "refund_succeeded_by_polling")

    # Asking again after it is done: a 409, and still one refund at Stripe.
    status, again = await post_refund(refund_env.api, paid.order_id, buyer.headers)
    assert (status, again["error"]) == (409, "already_refunded"), again
    assert len(await refund_env.emulator.refunds_of(paid.payment_intent)) == 1


async def test_two_requests_at_once_make_one_refund(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any
) -> None:
    movies = await new_movies(client, stack, moderator, 1)
    paid = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies,
        prices=[Decimal("7.00")],
    )  # fmt: skip
    (first, one), (second, other) = await asyncio.gather(
        post_refund(refund_env.api, paid.order_id, buyer.headers),
        post_refund(refund_env.api, paid.order_id, buyer.headers),
    )
    bodies = [one, other]
    # Both are accepted as the same refund: the second waited for the first's lock on the
    # payment, then found its refund in flight and joined it.
    assert [first, second] == [202, 202], bodies
    assert bodies[0]["refund_id"] == bodies[1]["refund_id"]
    assert (await _result(stack, bodies[0]["refund_id"])).status == "succeeded"
    assert await refund_count(stack, paid.payment_id) == 1
    assert len(await refund_env.emulator.refunds_of(paid.payment_intent)) == 1


async def test_a_refund_stripe_fails_later_leaves_the_order_paid_and_refundable(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any
) -> None:
    movies = await new_movies(client, stack, moderator, 1)
    paid = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies,
        prices=[Decimal("5.00")], card=SUCCEEDED_THEN_FAILED,
    )  # fmt: skip
    # Stripe first says "succeeded", then fails the refund: polling waits past the first word.
    async with refund_env.api_with(stack, refund_poll_interval_seconds=4) as api:
        body = await accepted_refund(api, paid.order_id, buyer.headers)

        async def accepted_by_stripe() -> bool:
            return (await snapshot(stack, paid)).refunds[0][0] == "pending"

        await eventually(accepted_by_stripe, what="Stripe accepted the refund")
        await refund_env.emulator.advance_clock(10)
        assert (await _result(stack, body["refund_id"])).status == "failed"
        after = await snapshot(stack, paid)
        assert after.order_status == "paid"
        assert after.payment_status == "successful"
        assert after.refunded_amount == Decimal("0.00")
        assert after.owned_movies == movies
        assert after.refunds == [("failed", Decimal("5.00"), "expired_or_canceled_card")]
        [mail] = await wait_for_mail(stack.mail, buyer.email, "could not be completed")
        assert "still paid" in text_of(mail)

        # Refundable again: a new refund, with its own idempotency key at Stripe.
        again = await accepted_refund(api, paid.order_id, buyer.headers)
        assert again["refund_id"] != body["refund_id"]
        await refund_env.emulator.advance_clock(10)
        await _result(stack, again["refund_id"])
    assert len(await refund_env.emulator.refunds_of(paid.payment_intent)) == 2


async def test_temporal_down_after_the_row_is_written_is_a_503_and_a_retry_resumes_it(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any
) -> None:
    movies = await new_movies(client, stack, moderator, 1)
    paid = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies,
        prices=[Decimal("3.00")],
    )  # fmt: skip
    async with refund_env.api_with(stack, temporal_address="127.0.0.1:1") as dead:
        status, body = await post_refund(dead, paid.order_id, buyer.headers)
        assert (status, body["error"]) == (503, "service_unavailable"), body
    # The row waits, visibly, for its run.
    assert (await snapshot(stack, paid)).refunds == [("requested", Decimal("3.00"), None)]
    body = await accepted_refund(refund_env.api, paid.order_id, buyer.headers)
    assert (await _result(stack, body["refund_id"])).status == "succeeded"
    assert await refund_count(stack, paid.payment_id) == 1
    assert (await snapshot(stack, paid)).order_status == "refunded"


async def test_refused_orders(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any
) -> None:
    movies = await new_movies(client, stack, moderator, 3)
    api = refund_env.api
    # Paid longer ago than the window allows.
    old = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies[:1],
        prices=[Decimal("2.00")],
        paid_at=datetime.now(UTC) - timedelta(days=refund_env.settings.refund_window_days, hours=1),
    )  # fmt: skip
    status, body = await post_refund(api, old.order_id, buyer.headers)
    assert (status, body["error"]) == (409, "refund_window_closed"), body
    assert await refund_count(stack, old.payment_id) == 0

    # Another user's order, an unknown one, an absurd id: the same 404.
    stranger = await new_buyer(client, stack)
    for order_id in (old.order_id, 2**62, 2**70):
        status, body = await post_refund(api, order_id, stranger.headers)
        assert (status, body["error"]) == (404, "order_not_found"), order_id
    assert (await post_refund(api, old.order_id, {}))[0] == 401

    # Not paid (pending) and cancelled orders.
    async with transaction(stack.sessions) as session:
        pending = Order(
            user_id=buyer.user_id, status=OrderStatus.PENDING, total_amount=1, currency="usd"
        )
        cancelled = Order(
            user_id=buyer.user_id, status=OrderStatus.CANCELLED, total_amount=1, currency="usd"
        )
        session.add_all([pending, cancelled])
    status, body = await post_refund(api, pending.id, buyer.headers)
    assert (status, body["error"]) == (409, "order_not_paid"), body
    status, body = await post_refund(api, cancelled.id, buyer.headers)
    assert (status, body["error"], body["order_status"]) == (
        409,
        "order_not_refundable",
        "cancelled",
    )


async def test_the_database_refuses_refunding_more_than_was_paid(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any
) -> None:
    movies = await new_movies(client, stack, moderator, 1)
    paid = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies,
        prices=[Decimal("6.00")],
    )  # fmt: skip
    # Raw SQL, past every check of the service: the CHECK constraint says no.
    try:
        async with transaction(stack.sessions) as session:
            await session.execute(
                text("UPDATE payments SET refunded_amount = amount + 0.01 WHERE id = :id"),
                {"id": paid.payment_id},
            )
        raise AssertionError("the database accepted a refund beyond the amount paid")
    except IntegrityError as exc:
        assert constraint_name(exc) == "ck_payments_refund_within_amount"
    # Books already off by a cent (as if a refund had been counted outside the service): the
    # service's own sums see a whole line to refund, the constraint refuses it: a 409, no row,
    # nothing asked of Stripe.
    async with transaction(stack.sessions) as session:
        await session.execute(
            text("UPDATE payments SET refunded_amount = 0.01 WHERE id = :id"),
            {"id": paid.payment_id},
        )
    status, body = await post_refund(refund_env.api, paid.order_id, buyer.headers)
    assert (status, body["error"]) == (409, "refund_exceeds_payment"), body
    assert await refund_count(stack, paid.payment_id) == 0
    assert await refund_env.emulator.refunds_of(paid.payment_intent) == []
