"""The receipt when SMTP is down: the order is paid at once (the mail is not in the way), the
receipt becomes a regular activity that operators see pending with its error, and it goes out
once when SMTP is back. When SMTP is up it goes out inside the workflow task (test_checkout_pay)."""

from __future__ import annotations

import asyncio

from quart.typing import TestClientProtocol
from temporalio.api.enums.v1 import EventType
from temporalio.testing import ActivityEnvironment

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
from tests.support import mails_to, wait_for_mail
from tests.workflows.support import history_text, maybe_record, pending_activities
from worker import build_activities
from workflows.checkout import CheckoutWorkflow
from workflows.checkout_messages import CheckoutResult, SendReceipt
from workflows.ids import checkout_workflow_id


async def test_smtp_down_pays_the_order_and_retries_the_receipt_as_a_visible_activity(
    client: TestClientProtocol, stack: Stack, stripe_emulator: StripeEmulator
) -> None:
    async with open_shop(stack, stripe_emulator, email_retry_max_interval_seconds=2) as shop:
        me = await buyer(client, stack)
        order_id = await pending_order(client, me, await movies(client, stack, "6.00"))
        page = await shop.checkout_ok(me, order_id)
        handle = stack.client.get_workflow_handle(
            checkout_workflow_id(order_id), result_type=CheckoutResult
        )
        stack.mail.stop()
        try:
            assert (await shop.pay(page["session_id"])).status_code == 200
            await order_status_becomes(stack, order_id, "paid")

            async def receipt_retrying() -> bool:
                return any(
                    p.activity_type.name == "send_receipt"
                    and p.attempt >= 2
                    and p.last_failure.application_failure_info.type == "SMTPDeliveryFailed"
                    for p in await pending_activities(handle)
                )

            await eventually(receipt_retrying, what="the receipt pending, failing on SMTP")
            status = await handle.query(CheckoutWorkflow.status)
            assert status.state == "receipt_retrying"
        finally:
            stack.mail.start()
        [receipt] = await wait_for_mail(stack.mail, me.email, "receipt", timeout=30)
        result = await handle.result()
        assert result.outcome == "paid"
        receipts = [m for m in mails_to(stack.mail, me.email) if "receipt" in m["Subject"]]
        assert receipts == [receipt]  # the failed tries sent nothing
        events = (await handle.fetch_history()).events
        scheduled = [
            e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]
        assert len(scheduled) == 1  # the local try, then one regular activity
        assert me.email not in history_text(await handle.fetch_history())
        await maybe_record(handle, "checkout_receipt_fallback")


async def test_a_receipt_sent_is_not_mailed_again_by_a_retried_send(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    """A workflow task replayed after its local activities ran runs them again (a duplicate
    webhook can cause it): the receipt's row says it went out, so the retry mails nothing."""
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "4.00"))
    page = await shop.checkout_ok(me, order_id)
    assert (await shop.pay(page["session_id"])).status_code == 200
    [receipt] = await wait_for_mail(stack.mail, me.email, "receipt")
    [(payment_id,)] = await rows(stack, "SELECT id FROM payments WHERE order_id = :o", o=order_id)
    payments = next(
        a for a in build_activities(shop.settings, stack.sessions) if a.__name__ == "send_receipt"
    )
    await ActivityEnvironment().run(payments, SendReceipt(payment_id))
    await asyncio.sleep(1.0)  # a second mail would be in the sink by now
    receipts = [m for m in mails_to(stack.mail, me.email) if "receipt" in m["Subject"]]
    assert receipts == [receipt]
