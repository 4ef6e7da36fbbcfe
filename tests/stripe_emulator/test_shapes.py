"""Every object the emulator serves, in every state the flows reach, fits the schemas taken
from Stripe's OpenAPI description (`schemas/SOURCE.md`)."""

from __future__ import annotations

from typing import Any

from tests.stripe_emulator.schema_check import assert_fits
from tests.stripe_emulator.support import DECLINED_CARD, Emu, session_params

OBJECT_SCHEMAS = {
    "checkout.session": "checkout.session",
    "payment_intent": "payment_intent",
    "charge": "charge",
    "refund": "refund",
}


def test_objects_and_event_payloads_in_every_state_fit_stripes_schemas(emu: Emu):
    client = emu.client()
    # a session paid after a decline, partly refunded by a card whose refund fails later
    paid = client.v1.checkout.sessions.create(params=session_params())
    assert emu.pay(paid.id, DECLINED_CARD).status_code == 402
    declined_intent = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(paid.id).payment_intent
    )
    assert_fits(declined_intent.to_dict(), "payment_intent")
    assert_fits(client.v1.charges.retrieve(declined_intent.latest_charge).to_dict(), "charge")
    assert emu.pay(paid.id, "4000000000005126").status_code == 200
    refund = client.v1.refunds.create(params={"payment_intent": declined_intent.id, "amount": 500})
    # a session expired after a decline: its intent is canceled
    expired = client.v1.checkout.sessions.create(params=session_params())
    emu.pay(expired.id, DECLINED_CARD)
    client.v1.checkout.sessions.expire(expired.id)
    emu.receiver.wait_for_events(1, "refund.failed")

    sessions, intents = client.v1.checkout.sessions, client.v1.payment_intents
    canceled_id = sessions.retrieve(expired.id).payment_intent
    expand = {"expand": ["latest_charge"]}
    shown: list[tuple[Any, str]] = [
        (sessions.retrieve(paid.id, params={"expand": ["line_items"]}), "checkout.session"),
        (sessions.retrieve(expired.id), "checkout.session"),
        (intents.retrieve(declined_intent.id, params=expand), "payment_intent"),
        (intents.retrieve(canceled_id), "payment_intent"),
        (client.v1.charges.retrieve(refund.charge, params={"expand": ["refunds"]}), "charge"),
        (client.v1.refunds.retrieve(refund.id, params={"expand": ["charge"]}), "refund"),
    ]
    for obj, schema in shown:
        assert_fits(obj.to_dict(), schema)
    assert intents.retrieve(canceled_id).status == "canceled"
    assert client.v1.refunds.retrieve(refund.id).status == "failed"

    events = list(client.v1.events.list(params={"limit": 100}).auto_paging_iter())
    assert {e.type for e in events} == {
        "payment_intent.payment_failed",
        "payment_intent.succeeded",
        "checkout.session.completed",
        "checkout.session.expired",
        "refund.created",
        "charge.refunded",
        "refund.updated",
        "refund.failed",
    }
    for event in events:
        assert_fits(event.to_dict(), "event")
        assert_fits(event.data.object.to_dict(), OBJECT_SCHEMAS[event.data.object.object])
