"""Stripe fails a refund after it succeeded (`refund.failed` after `succeeded`), once the
refund's own run has ended: the signed webhook reaches a run that applies the failure once (the
refund row failed, the money counted back, the order paid again, the movies owned again, the
buyer emailed, the admin list showing it), and a duplicate or a second failure event changes
nothing. API, webhook, RefundWorkflow on a real worker, Postgres, SMTP sink, Stripe emulator."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest
from quart.typing import TestClientProtocol

from domain.models import UserGroup
from tests.api.catalog_support import caller
from tests.commerce.support import signed
from tests.conftest import Stack
from tests.refunds.fixtures import Buyer, RefundEnv, buyer, moderator, refund_env
from tests.refunds.support import PaidOrder, accepted_refund, new_movies, paid_order, snapshot
from tests.support import text_of, wait_for_mail
from tests.workflows.support import eventually, history_text, maybe_record
from workflows.ids import refund_workflow_id
from workflows.refund_messages import RefundResult

__all__ = ["buyer", "moderator", "refund_env"]  # fixtures used by name

FAILED_MAIL = "could not be completed"


@pytest.fixture(scope="module")
async def admin(client: TestClientProtocol, stack: Stack) -> dict[str, str]:
    return await caller(client, stack, UserGroup.ADMIN)


async def _result(stack: Stack, refund_id: int) -> str:
    """The result of the latest run of `refund:{id}` (a late-failure run, once one started)."""
    handle = stack.client.get_workflow_handle(
        refund_workflow_id(refund_id), result_type=RefundResult
    )
    return (await asyncio.wait_for(handle.result(), timeout=60)).status


async def _late_run_ended(stack: Stack, refund_id: int, runs: int) -> str:
    """Wait until `refund:{id}` has had `runs` runs and the last has ended; its result."""

    async def counted() -> bool:
        found = [
            r
            async for r in stack.client.list_workflows(
                f"WorkflowId = '{refund_workflow_id(refund_id)}'"
            )
        ]
        return len(found) >= runs

    await eventually(counted, what=f"{runs} runs of refund {refund_id}")
    return await _result(stack, refund_id)


async def _deliver(env: RefundEnv, event: dict[str, Any]) -> None:
    body, signature = signed(env.settings.stripe_webhook_secret.get_secret_value(), event)
    response = await env.api.post(
        "/payments/webhook/",
        data=body,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, await response.get_json()


async def _stripe_fails(
    env: RefundEnv, paid: PaidOrder, refund_id: int, event_id: str, kind: str = "refund.failed"
) -> dict[str, Any]:
    """The event Stripe sends when it fails our refund `refund_id` after it succeeded: the
    refund as the emulator holds it, now failed."""
    [stripe_refund] = [
        r
        for r in await env.emulator.refunds_of(paid.payment_intent)
        if r["metadata"].get("refund_id") == str(refund_id)
    ]
    assert stripe_refund["status"] == "succeeded"
    failed = {**stripe_refund, "status": "failed", "failure_reason": "expired_or_canceled_card"}
    return {
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {"object": failed},
    }


async def test_a_full_refund_failed_after_its_run_ended_is_undone_once(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any,
    admin: dict[str, str],
) -> None:  # fmt: skip
    movies = await new_movies(client, stack, moderator, 2)
    paid = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies,
        prices=[Decimal("9.99"), Decimal("4.50")],
    )  # fmt: skip
    refund_id = (await accepted_refund(refund_env.api, paid.order_id, buyer.headers))["refund_id"]
    assert await _result(stack, refund_id) == "succeeded"  # the run has ended
    before = await snapshot(stack, paid)
    assert (before.order_status, before.payment_status) == ("refunded", "refunded")
    assert before.owned_movies == []
    await wait_for_mail(stack.mail, buyer.email, "refund is done")

    event = await _stripe_fails(refund_env, paid, refund_id, f"evt_late_{refund_id}")
    await _deliver(refund_env, event)
    assert await _late_run_ended(stack, refund_id, runs=2) == "failed"
    late_run = stack.client.get_workflow_handle(refund_workflow_id(refund_id))
    assert buyer.email not in history_text(await late_run.fetch_history())
    await maybe_record(late_run, "refund_failed_after_success")
    after = await snapshot(stack, paid)
    assert after.order_status == "paid"
    assert after.payment_status == "successful"
    assert after.refunded_amount == Decimal("0.00")
    assert after.owned_movies == movies  # the buyer got no money back: they keep the movies
    assert after.refunds == [("failed", Decimal("14.49"), "expired_or_canceled_card")]
    [mail] = await wait_for_mail(stack.mail, buyer.email, FAILED_MAIL)
    assert "failed it afterwards" in text_of(mail)
    assert "14.49 USD" in text_of(mail)

    # An operator sees it among the failed refunds, with Stripe's reason.
    listed = await refund_env.api.get("/admin/refunds/?status=failed&per_page=100", headers=admin)
    rows = {r["id"]: r for r in (await listed.get_json())["refunds"]}
    assert rows[refund_id]["failure_reason"] == "expired_or_canceled_card"

    # The same event again (deduplicated at the webhook), and Stripe's other failure event
    # (refund.updated, delivered late): nothing changes twice, no second email.
    await _deliver(refund_env, event)
    updated = {**event, "id": f"evt_late_upd_{refund_id}", "type": "refund.updated"}
    await _deliver(refund_env, updated)
    assert await _late_run_ended(stack, refund_id, runs=3) == "unchanged"
    assert await snapshot(stack, paid) == after
    await asyncio.sleep(0.5)
    assert len(await wait_for_mail(stack.mail, buyer.email, FAILED_MAIL)) == 1


async def test_a_partial_refund_failed_later_gives_back_its_lines_only(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any,
    admin: dict[str, str],
) -> None:  # fmt: skip
    movies = await new_movies(client, stack, moderator, 3)
    paid = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies,
        prices=[Decimal("2.10"), Decimal("3.20"), Decimal("4.30")],
    )  # fmt: skip
    api, lines = refund_env.api, paid.order_item_ids
    first = (await accepted_refund(api, paid.order_id, admin, as_admin=True, lines=lines[:1]))[
        "refund_id"
    ]
    assert await _result(stack, first) == "succeeded"
    rest = (await accepted_refund(api, paid.order_id, admin, as_admin=True, lines=lines[1:]))[
        "refund_id"
    ]
    assert await _result(stack, rest) == "succeeded"
    assert (await snapshot(stack, paid)).order_status == "refunded"

    # Stripe fails the first (2.10) refund: 7.50 of 9.60 stays refunded.
    await _deliver(refund_env, await _stripe_fails(refund_env, paid, first, f"evt_late_{first}"))
    assert await _late_run_ended(stack, first, runs=2) == "failed"
    after = await snapshot(stack, paid)
    assert (after.order_status, after.payment_status) == ("paid", "partially_refunded")
    assert after.refunded_amount == Decimal("7.50")
    assert after.owned_movies == movies[:1]
    assert after.refunds == [
        ("failed", Decimal("2.10"), "expired_or_canceled_card"),
        ("succeeded", Decimal("7.50"), None),
    ]
    # The other refund's run had ended too: it was not touched.
    assert await _result(stack, rest) == "succeeded"


async def test_a_failure_reaching_the_run_while_it_mails_is_applied_by_that_run(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any
) -> None:
    movies = await new_movies(client, stack, moderator, 1)
    paid = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies,
        prices=[Decimal("6.00")],
    )  # fmt: skip
    stack.mail.stop()  # the run settles succeeded, then waits to email the buyer
    try:
        refund_id = (await accepted_refund(refund_env.api, paid.order_id, buyer.headers))[
            "refund_id"
        ]

        async def settled_succeeded() -> bool:
            return (await snapshot(stack, paid)).refunds[0][0] == "succeeded"

        await eventually(settled_succeeded, what="the refund settled succeeded")
        event = await _stripe_fails(refund_env, paid, refund_id, f"evt_late_{refund_id}")
        await _deliver(refund_env, event)  # signal-with-start: the running run takes it
    finally:
        stack.mail.start()
    assert await _result(stack, refund_id) == "failed"
    runs = stack.client.list_workflows(f"WorkflowId = '{refund_workflow_id(refund_id)}'")
    assert len([r async for r in runs]) == 1  # no second run was started
    await maybe_record(
        stack.client.get_workflow_handle(refund_workflow_id(refund_id)),
        "refund_failed_while_mailing",
    )
    after = await snapshot(stack, paid)
    assert (after.order_status, after.payment_status) == ("paid", "successful")
    assert after.owned_movies == movies
    assert after.refunds == [("failed", Decimal("6.00"), "expired_or_canceled_card")]
    [mail] = await wait_for_mail(stack.mail, buyer.email, FAILED_MAIL)
    assert "failed it afterwards" in text_of(mail)
