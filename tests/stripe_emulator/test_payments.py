"""Paying a session (control API) and refunding it (real `stripe` client): PaymentIntents,
Charges, Refunds, and the events each step sends."""

from __future__ import annotations

import pytest
import stripe

from tests.stripe_emulator.schema_check import assert_fits
from tests.stripe_emulator.support import (
    DECLINED_CARD,
    GOOD_CARD,
    NO_FUNDS_CARD,
    Emu,
    session_params,
    verify,
)


def _paid_session(emu: Emu, card: str = GOOD_CARD, **overrides) -> tuple[str, str]:
    session = emu.client().v1.checkout.sessions.create(params=session_params(**overrides))
    response = emu.pay(session.id, card)
    assert response.status_code == 200, response.text
    return session.id, response.json()["payment_intent"]["id"]


def test_paying_completes_the_session_with_a_succeeded_intent_and_charge(emu: Emu):
    client = emu.client()
    session = client.v1.checkout.sessions.create(
        params=session_params(payment_intent_data={"metadata": {"order_id": "42"}})
    )
    paid = emu.pay(session.id, GOOD_CARD, email="viewer@example.com")
    assert paid.status_code == 200

    session = client.v1.checkout.sessions.retrieve(session.id)
    assert (session.status, session.payment_status, session.url) == ("complete", "paid", None)
    assert session.customer_details.email == "viewer@example.com"
    intent = client.v1.payment_intents.retrieve(session.payment_intent)
    assert intent.id.startswith("pi_") and intent.status == "succeeded"
    assert (intent.amount, intent.amount_received, intent.currency) == (1000, 1000, "usd")
    assert intent.metadata.to_dict() == {"order_id": "42"}
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert charge.id.startswith("ch_")
    assert (charge.status, charge.paid, charge.captured) == ("succeeded", True, True)
    assert (charge.amount, charge.amount_captured, charge.amount_refunded) == (1000, 1000, 0)
    assert charge.payment_intent == intent.id
    card = charge.payment_method_details.card
    assert (card.brand, card.last4) == ("visa", "4242")

    completed = emu.receiver.wait_for_events(1, "checkout.session.completed")
    succeeded = emu.receiver.wait_for_events(1, "payment_intent.succeeded")
    event = verify(completed[0], emu.webhook_secret)
    assert event.data.object.id == session.id
    assert event.data.object.payment_status == "paid"
    assert verify(succeeded[0], emu.webhook_secret).data.object.id == intent.id


def test_a_declined_card_leaves_the_session_open_and_the_next_card_pays(emu: Emu):
    client = emu.client()
    session = client.v1.checkout.sessions.create(params=session_params())

    declined = emu.pay(session.id, DECLINED_CARD)
    assert declined.status_code == 402
    error = declined.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        "generic_decline",
    )
    assert error["message"] == "Your card was declined."
    assert_fits(declined.json(), "error")

    session = client.v1.checkout.sessions.retrieve(session.id)
    assert (session.status, session.payment_status) == ("open", "unpaid")
    intent = client.v1.payment_intents.retrieve(session.payment_intent)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.decline_code == "generic_decline"
    failed = client.v1.charges.retrieve(intent.latest_charge)
    assert (failed.status, failed.paid, failed.failure_code) == ("failed", False, "card_declined")
    [delivery] = emu.receiver.wait_for_events(1, "payment_intent.payment_failed")
    assert verify(delivery, emu.webhook_secret).data.object.id == intent.id

    assert emu.pay(session.id, GOOD_CARD).status_code == 200
    session = client.v1.checkout.sessions.retrieve(session.id)
    assert session.payment_intent == intent.id  # the same intent, now succeeded
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"


def test_card_errors_raise_stripes_card_error_class(emu: Emu):
    client = emu.client()
    session = client.v1.checkout.sessions.create(params=session_params())
    with pytest.raises(stripe.CardError) as no_funds:
        client.raw_request("post", f"/_emulator/checkout/sessions/{session.id}/pay",
                           card=NO_FUNDS_CARD)  # fmt: skip
    assert no_funds.value.http_status == 402
    assert no_funds.value.code == "card_declined"
    assert no_funds.value.error is not None
    assert no_funds.value.error.decline_code == "insufficient_funds"
    assert no_funds.value.user_message == "Your card has insufficient funds."
    with pytest.raises(stripe.CardError) as typo:
        client.raw_request("post", f"/_emulator/checkout/sessions/{session.id}/pay",
                           card="4242424242424241")  # fmt: skip
    assert typo.value.code == "incorrect_number"


@pytest.mark.parametrize("ending", ["expire", "pay"])
def test_an_expired_or_completed_session_cannot_be_paid(emu: Emu, ending):
    client = emu.client()
    session = client.v1.checkout.sessions.create(params=session_params())
    if ending == "expire":
        client.v1.checkout.sessions.expire(session.id)
    else:
        assert emu.pay(session.id).status_code == 200
    refused = emu.pay(session.id)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "checkout_session_not_open"
    intents = {s.payment_intent for s in client.v1.checkout.sessions.list().data}
    charges = [client.v1.payment_intents.retrieve(i).latest_charge for i in intents if i]
    assert len(charges) == (0 if ending == "expire" else 1)


def test_full_refund_by_payment_intent_then_nothing_left_to_refund(emu: Emu):
    client = emu.client()
    _, intent_id = _paid_session(emu)
    refund = client.v1.refunds.create(params={"payment_intent": intent_id})
    assert refund.id.startswith("re_")
    assert (refund.amount, refund.status, refund.payment_intent) == (1000, "succeeded", intent_id)
    assert_fits(refund.to_dict(), "refund")
    charge = client.v1.charges.retrieve(refund.charge)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    emu.receiver.wait_for_events(1, "refund.created")
    [refunded] = emu.receiver.wait_for_events(1, "charge.refunded")
    event = verify(refunded, emu.webhook_secret)
    assert event.data.object.amount_refunded == 1000
    previous = event.data.previous_attributes
    assert previous is not None
    assert previous.to_dict() == {"amount_refunded": 0, "refunded": False}

    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 1})
    assert again.value.code == "charge_already_refunded"


def test_partial_refunds_never_exceed_what_was_captured(emu: Emu):
    client = emu.client()
    _, intent_id = _paid_session(emu)
    first = client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 300})
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 701})
    assert too_much.value.param == "amount"
    assert "greater than unrefunded amount on charge ($7.00)" in too_much.value.user_message
    assert client.v1.charges.retrieve(first.charge).amount_refunded == 300
    second = client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 700})
    charge = client.v1.charges.retrieve(second.charge, params={"expand": ["refunds"]})
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    assert sorted(r.amount for r in charge.refunds.data) == [300, 700]
    listed = client.v1.refunds.list(params={"payment_intent": intent_id})
    assert [r.id for r in listed.data] == [second.id, first.id]
    assert client.v1.refunds.retrieve(first.id).amount == 300


def test_a_refund_that_stays_pending_then_succeeds(emu: Emu):
    client = emu.client()
    _, intent_id = _paid_session(emu, card="4000000000007726")
    refund = client.v1.refunds.create(params={"payment_intent": intent_id})
    assert refund.status == "pending"
    [updated] = emu.receiver.wait_for_events(1, "refund.updated")
    event = verify(updated, emu.webhook_secret)
    assert event.data.object.status == "succeeded"
    assert event.data.previous_attributes is not None
    assert event.data.previous_attributes.status == "pending"
    assert client.v1.refunds.retrieve(refund.id).status == "succeeded"


def test_a_refund_that_fails_later_gives_the_money_back_to_the_charge(emu: Emu):
    client = emu.client()
    _, intent_id = _paid_session(emu, card="4000000000005126")
    refund = client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 400})
    assert refund.status == "succeeded"
    [failed] = emu.receiver.wait_for_events(1, "refund.failed")
    assert verify(failed, emu.webhook_secret).data.object.failure_reason
    emu.receiver.wait_for_events(1, "refund.updated")
    refund = client.v1.refunds.retrieve(refund.id)
    assert refund.status == "failed"
    assert_fits(refund.to_dict(), "refund")
    charge = client.v1.charges.retrieve(refund.charge)
    assert (charge.amount_refunded, charge.refunded) == (0, False)


def test_refund_needs_a_successful_charge(emu: Emu):
    client = emu.client()
    session = client.v1.checkout.sessions.create(params=session_params())
    assert emu.pay(session.id, DECLINED_CARD).status_code == 402
    intent_id = client.v1.checkout.sessions.retrieve(session.id).payment_intent
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create(params={"payment_intent": intent_id})
    assert refused.value.param == "payment_intent"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.refunds.create(params={"payment_intent": "pi_nope"})
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
