"""RefundWorkflow's ways to learn Stripe's final word (polling, a `stripe_event` signal), Stripe
failing for a while, and the automatic refund of a payment that came too late."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from domain.db import transaction
from domain.refunds import service as refunds
from tests.conftest import Stack
from tests.refunds.fixtures import Buyer, RefundEnv, buyer, moderator, refund_env
from tests.refunds.support import (
    PENDING_THEN_SUCCEEDED,
    accepted_refund,
    new_movies,
    paid_order,
    refund_count,
    snapshot,
)
from tests.support import text_of, wait_for_mail
from tests.workflows.support import eventually, maybe_record
from workflows.ids import refund_workflow_id
from workflows.refund import RefundWorkflow
from workflows.refund_messages import RefundProgress, RefundResult
from workflows.starts import refund_start
from workflows.stripe_events import STRIPE_EVENT_SIGNAL, StripeEventSignal

__all__ = ["buyer", "moderator", "refund_env"]  # fixtures used by name


async def _activity_results(handle: Any, activity_type: str) -> list[Any]:
    """The decoded results of a run's completed activities of one type, in order."""
    history = await handle.fetch_history()
    scheduled = {
        event.event_id: event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    }
    results = []
    for event in history.events:
        if not event.HasField("activity_task_completed_event_attributes"):
            continue
        done = event.activity_task_completed_event_attributes
        if scheduled[done.scheduled_event_id] == activity_type:
            results.append(json.loads(done.result.payloads[0].data))
    return results


async def test_stripe_failing_shows_retrying_then_the_refund_completes(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any
) -> None:
    movies = await new_movies(client, stack, moderator, 1)
    paid = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies,
        prices=[Decimal("8.00")],
    )  # fmt: skip
    await refund_env.emulator.fail_api(3)
    body = await accepted_refund(refund_env.api, paid.order_id, buyer.headers)

    async def shows_retrying() -> bool:
        [(status, _, reason)] = (await snapshot(stack, paid)).refunds
        return status == "requested" and reason is not None and "retrying" in reason

    await eventually(shows_retrying, what="the refund row to say it is retrying")
    # Meanwhile nothing is half-done: the buyer still owns the movie, the order is paid.
    during = await snapshot(stack, paid)
    assert during.order_status == "paid" and during.owned_movies == movies

    handle = stack.client.get_workflow_handle(
        refund_workflow_id(body["refund_id"]), result_type=RefundResult
    )
    assert (await asyncio.wait_for(handle.result(), timeout=60)).status == "succeeded"
    after = await snapshot(stack, paid)
    assert after.refunds == [("succeeded", Decimal("8.00"), None)]
    assert after.order_status == "refunded" and after.owned_movies == []
    assert len(await refund_env.emulator.refunds_of(paid.payment_intent)) == 1


async def test_a_pending_refund_is_settled_by_polling_stripe(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any
) -> None:
    """No webhook reaches us: the run asks Stripe until the refund leaves `pending`."""
    movies = await new_movies(client, stack, moderator, 1)
    paid = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies,
        prices=[Decimal("4.00")], card=PENDING_THEN_SUCCEEDED,
    )  # fmt: skip
    body = await accepted_refund(refund_env.api, paid.order_id, buyer.headers)
    handle = stack.client.get_workflow_handle(
        refund_workflow_id(body["refund_id"]), result_type=RefundResult
    )
    assert (await asyncio.wait_for(handle.result(), timeout=60)).status == "succeeded"
    # Stripe answered the create call with `pending` (read from the history: how soon the
    # emulator settles it against the first poll is a race, so the poll count is not).
    submitted = await _activity_results(handle, "submit_refund")
    assert [result["status"] for result in submitted] == ["pending"]
    progress = await handle.query(RefundWorkflow.status)
    assert progress.events_seen == 0  # no webhook: only a poll can have settled it
    assert progress.polls >= 1 and progress.stripe_status == "succeeded"
    assert (await snapshot(stack, paid)).order_status == "refunded"
    await maybe_record(handle, "refund_pending_then_polled")


async def test_a_pending_refund_is_settled_by_a_stripe_event_signal(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any
) -> None:
    movies = await new_movies(client, stack, moderator, 1)
    paid = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies,
        prices=[Decimal("4.00")], card=PENDING_THEN_SUCCEEDED,
    )  # fmt: skip
    # Polls would come only after an hour: the event must be what settles it.
    async with refund_env.api_with(stack, refund_poll_interval_seconds=3600) as api:
        body = await accepted_refund(api, paid.order_id, buyer.headers)
    handle = stack.client.get_workflow_handle(
        refund_workflow_id(body["refund_id"]), result_type=RefundResult
    )

    async def stripe_accepted() -> bool:
        progress: RefundProgress = await handle.query(RefundWorkflow.status)
        return progress.state == "awaiting_stripe"

    await eventually(stripe_accepted, what="the run to wait for Stripe")
    progress = await handle.query(RefundWorkflow.status)
    ours = progress.stripe_refund_id
    assert ours is not None and progress.stripe_status == "pending"

    def event(event_id: str, kind: str, object_id: str, status: str | None) -> StripeEventSignal:
        return StripeEventSignal(event_id=event_id, type=kind, object_id=object_id, status=status)

    # About the charge, and about another refund: neither settles ours.
    await handle.signal(STRIPE_EVENT_SIGNAL, event("evt_1", "charge.refunded", "ch_x", None))
    await handle.signal(STRIPE_EVENT_SIGNAL, event("evt_2", "refund.updated", "re_other", "failed"))
    await asyncio.sleep(0.5)
    assert (await handle.query(RefundWorkflow.status)).state == "awaiting_stripe"
    assert (await snapshot(stack, paid)).refunds[0][0] == "pending"
    # Ours, delivered twice.
    settled = event("evt_3", "refund.updated", ours, "succeeded")
    await handle.signal(STRIPE_EVENT_SIGNAL, settled)
    await handle.signal(STRIPE_EVENT_SIGNAL, settled)
    assert (await asyncio.wait_for(handle.result(), timeout=30)).status == "succeeded"
    progress = await handle.query(RefundWorkflow.status)
    assert progress.polls == 0 and progress.events_seen == 3
    after = await snapshot(stack, paid)
    assert after.order_status == "refunded" and after.owned_movies == []
    [mail] = await wait_for_mail(stack.mail, buyer.email, "refund is done")
    assert "4.00 USD" in text_of(mail)
    await maybe_record(handle, "refund_settled_by_signal")


async def test_a_late_payment_is_refunded_once_however_often_asked(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any
) -> None:
    movies = await new_movies(client, stack, moderator, 1)
    paid = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies,
        prices=[Decimal("11.00")], applied=False,
    )  # fmt: skip

    async def ask() -> int:
        async with transaction(stack.sessions) as session:
            opened = await refunds.open_unapplied_payment_refund(session, paid.payment_id)
            return opened.refund.id

    ids = await asyncio.gather(*(ask() for _ in range(4)))
    ids.append(await ask())
    assert len(set(ids)) == 1
    assert await refund_count(stack, paid.payment_id) == 1

    refund_id = ids[0]
    start = refund_start(refund_env.settings, refund_id, paid.order_id, buyer.user_id)
    handle = await stack.client.start_workflow(
        start.workflow,
        start.input,
        id=start.id,
        task_queue=refund_env.settings.temporal_task_queue,
        search_attributes=start.search_attributes,
        static_summary=start.summary,
    )
    assert (await asyncio.wait_for(handle.result(), timeout=60)).status == "succeeded"
    after = await snapshot(stack, paid)
    assert after.order_status == "cancelled"  # it never was paid; nothing to revoke
    assert after.payment_status == "refunded" and after.refunded_amount == Decimal("11.00")
    [mail] = await wait_for_mail(stack.mail, buyer.email, "late payment")
    assert "11.00 USD" in text_of(mail) and "returned it in full" in text_of(mail)
    assert await ask() == refund_id  # still the one refund, now succeeded
    [at_stripe] = await refund_env.emulator.refunds_of(paid.payment_intent)
    assert at_stripe["amount"] == 1100
    await maybe_record(handle, "refund_late_payment")
