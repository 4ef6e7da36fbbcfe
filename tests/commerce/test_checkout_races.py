"""Races and crashes around a checkout: concurrent checkout calls, Stripe down or answering late
while the page is made, and the worker failing after the payment was committed but before it
could say so."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from quart.typing import TestClientProtocol
from temporalio import activity

from tests.commerce.conftest import open_shop
from tests.commerce.support import (
    Shop,
    buyer,
    eventually,
    movies,
    order_status_becomes,
    pending_order,
    rows,
)
from tests.conftest import Stack, StripeEmulator
from tests.support import wait_for_mail
from tests.workflows.support import activities_replacing
from workflows.checkout_messages import RecordedPayment, RecordPayment


async def test_concurrent_checkout_calls_make_one_stripe_session(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    calls = [shop.checkout(me, order_id) for _ in range(4)]
    calls.append(shop.http.post("/payments/checkout-session/", headers=me.headers))
    answers = await asyncio.gather(*calls)
    assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
    assert len({a.json()["session_id"] for a in answers}) == 1
    assert len((await shop.stripe_get("/checkout/sessions"))["data"]) == 1
    assert await rows(
        stack, "SELECT count(*) FROM checkout_sessions WHERE order_id = :o", o=order_id
    ) == [(1,)]


async def test_a_payment_committed_by_a_crashed_attempt_is_recorded_once(
    client: TestClientProtocol, stack: Stack, stripe_emulator: StripeEmulator
) -> None:
    """record_payment commits, then its worker "dies" twice before reporting back: the
    retries find the payment recorded and the order is paid once, with one receipt."""
    me = await buyer(client, stack)
    films = await movies(client, stack, "5.00", "6.00")
    order_id = await pending_order(client, me, films)
    real: dict[str, Callable[..., Any]] = {}

    @activity.defn(name="record_payment")
    async def crashes_after_commit(data: RecordPayment) -> RecordedPayment:
        result: RecordedPayment = await real["record_payment"](data)
        if activity.info().attempt <= 2:
            raise RuntimeError("the worker died before reporting the result")
        return result

    def replacements(settings: Any) -> list[Any]:
        activities, found = activities_replacing(stack, settings, crashes_after_commit)
        real.update(found)
        return activities

    async with open_shop(stack, stripe_emulator, replacements=replacements) as shop:
        session_id = (await shop.checkout_ok(me, order_id))["session_id"]
        assert (await shop.pay(session_id)).status_code == 200
        await order_status_becomes(stack, order_id, "paid")
        await wait_for_mail(stack.mail, me.email, "receipt")
        await asyncio.sleep(0.5)
    assert await rows(stack, "SELECT count(*) FROM payments WHERE order_id = :o", o=order_id) == [
        (1,)
    ]
    assert await rows(stack, "SELECT count(*) FROM purchases WHERE order_id = :o", o=order_id) == [
        (2,)
    ]
    assert await rows(
        stack,
        "SELECT count(*) FROM payment_items i JOIN payments p ON p.id = i.payment_id "
        "WHERE p.order_id = :o",
        o=order_id,
    ) == [(2,)]
    receipts = [m for m in stack.mail.messages if "receipt" in str(m["Subject"])]
    assert len([m for m in receipts if me.email in str(m["To"])]) == 1


async def test_a_payment_made_while_no_worker_runs_is_recorded_once_it_is_back(
    client: TestClientProtocol, stack: Stack, stripe_emulator: StripeEmulator
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    async with open_shop(stack, stripe_emulator, run_worker=False) as shop:
        async with shop.worker():
            session_id = (await shop.checkout_ok(me, order_id))["session_id"]
        # The worker is gone: Stripe takes the money and its webhook is accepted (the event
        # is recorded and signalled), but nothing can record the payment yet.
        assert (await shop.pay(session_id)).status_code == 200

        async def handed_on() -> bool:
            found = await rows(
                stack,
                "SELECT count(*) FROM stripe_events WHERE object_id = :s "
                "AND type = 'checkout.session.completed' AND handled_at IS NOT NULL",
                s=session_id,
            )
            return bool(found[0][0])

        await eventually(handed_on, what="the completed event handed to Temporal")
        assert await rows(stack, "SELECT status FROM orders WHERE id = :o", o=order_id) == [
            ("pending",)
        ]
        async with shop.worker():
            await order_status_becomes(stack, order_id, "paid")
            await wait_for_mail(stack.mail, me.email, "receipt")
    assert await rows(stack, "SELECT count(*) FROM payments WHERE order_id = :o", o=order_id) == [
        (1,)
    ]


async def test_a_lost_answer_from_stripe_is_retried_under_the_same_key(
    client: TestClientProtocol, stack: Stack, stripe_emulator: StripeEmulator
) -> None:
    """Stripe makes the session but its answer never arrives: the retry carries the same
    idempotency key, so it gets that session back instead of making a second one."""
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    async with open_shop(stack, stripe_emulator, stripe_timeout_seconds=1) as shop:
        # The first try makes the session but answers too late; the client's own retry (same
        # key) meets a 500: the activity fails, and its next attempt must not make another.
        await shop.fault("api", "timeout", count=1, seconds=3, after=True)
        await shop.fault("api", "500", count=1)
        session_id = (await shop.checkout_ok(me, order_id))["session_id"]
        made = (await shop.stripe_get("/checkout/sessions"))["data"]
        assert [s["id"] for s in made] == [session_id]


async def test_stripe_refusing_the_session_is_a_502_and_nothing_is_stored(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    # Below Stripe's minimum charge (0.50 USD): Stripe refuses the session.
    order_id = await pending_order(client, me, await movies(client, stack, "0.10"))
    response = await shop.checkout(me, order_id)
    assert response.status_code == 502, response.text
    assert response.json()["error"] == "payment_provider_error"
    assert await rows(
        stack, "SELECT count(*) FROM checkout_sessions WHERE order_id = :o", o=order_id
    ) == [(0,)]
    assert await rows(stack, "SELECT status FROM orders WHERE id = :o", o=order_id) == [
        ("pending",)
    ]


async def test_stripe_down_while_opening_the_page_is_a_503_then_the_next_call_works(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    """Stripe answers 500 to every request while the run makes the session: after its bounded
    retries the buyer gets 503 with Retry-After (not a 500 or 502), nothing is stored, the order
    stays pending; once Stripe is back the same call opens one page."""
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    await shop.fault("api", "500", count=1000)
    response = await shop.checkout(me, order_id)
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "payment_provider_unavailable"
    assert response.headers.get("Retry-After")
    assert await rows(
        stack, "SELECT count(*) FROM checkout_sessions WHERE order_id = :o", o=order_id
    ) == [(0,)]
    assert await rows(stack, "SELECT status FROM orders WHERE id = :o", o=order_id) == [
        ("pending",)
    ]
    disarmed = await shop.emu.delete("/_emulator/faults")
    assert disarmed.status_code in (200, 204), disarmed.text
    session_id = (await shop.checkout_ok(me, order_id))["session_id"]
    made = (await shop.stripe_get("/checkout/sessions"))["data"]
    assert [s["id"] for s in made if s["metadata"].get("order_id") == str(order_id)] == [session_id]
