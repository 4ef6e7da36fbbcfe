"""Events through the API (retrieve, list, filters, pagination) and the background expiry of
sessions whose `expires_at` has passed."""

from __future__ import annotations

import pytest
import stripe

from tests.stripe_emulator.schema_check import assert_fits
from tests.stripe_emulator.support import Emu, session_params, verify, wait_for


def _events_of_a_paid_and_refunded_order(emu: Emu) -> str:
    client = emu.client()
    session = client.v1.checkout.sessions.create(params=session_params())
    intent = emu.pay(session.id).json()["payment_intent"]["id"]
    client.v1.refunds.create(
        params={"payment_intent": intent, "amount": 100}, options={"idempotency_key": "refund:1"}
    )
    wait_for(  # all four delivered: the events no longer change
        lambda: not client.v1.events.list(params={"delivery_success": False}).data,
        what="every event delivered",
    )
    return intent


def test_list_and_retrieve_events_newest_first_with_filters(emu: Emu):
    _events_of_a_paid_and_refunded_order(emu)
    client = emu.client()
    listed = client.v1.events.list()
    assert [e.type for e in listed.data] == [
        "charge.refunded",
        "refund.created",
        "checkout.session.completed",
        "payment_intent.succeeded",
    ]
    for event in listed.data:
        assert_fits(event.to_dict(), "event")
        assert client.v1.events.retrieve(event.id).to_dict() == event.to_dict()

    refunds = client.v1.events.list(params={"type": "refund.*"})
    assert [e.type for e in refunds.data] == ["refund.created"]
    chosen = client.v1.events.list(
        params={"types": ["payment_intent.succeeded", "charge.refunded"]}
    )
    assert [e.type for e in chosen.data] == ["charge.refunded", "payment_intent.succeeded"]
    recent = client.v1.events.list(params={"created": {"gte": listed.data[0].created}})
    assert listed.data[0].id in [e.id for e in recent.data]
    assert client.v1.events.list(params={"created": {"lt": listed.data[-1].created}}).data == []


def test_events_say_which_request_caused_them(emu: Emu):
    _events_of_a_paid_and_refunded_order(emu)
    client = emu.client()
    [created] = client.v1.events.list(params={"type": "refund.created"}).data
    assert created.request.idempotency_key == "refund:1"
    assert created.request.id.startswith("req_")
    [paid] = client.v1.events.list(params={"type": "checkout.session.completed"}).data
    assert paid.request.id is None  # the customer paid; no API request of ours did it


def test_pagination_with_starting_after_and_ending_before(emu: Emu):
    _events_of_a_paid_and_refunded_order(emu)
    client = emu.client()
    everything = [e.id for e in client.v1.events.list().data]
    page = client.v1.events.list(params={"limit": 2})
    assert [e.id for e in page.data] == everything[:2] and page.has_more
    nxt = client.v1.events.list(params={"limit": 2, "starting_after": page.data[-1].id})
    assert [e.id for e in nxt.data] == everything[2:4] and not nxt.has_more
    back = client.v1.events.list(params={"limit": 2, "ending_before": nxt.data[0].id})
    assert [e.id for e in back.data] == everything[:2]
    walked = [e.id for e in client.v1.events.list(params={"limit": 1}).auto_paging_iter()]
    assert walked == everything
    with pytest.raises(stripe.InvalidRequestError) as too_many:
        client.v1.events.list(params={"limit": 101})
    assert too_many.value.param == "limit"


def test_unknown_event_is_a_404(emu: Emu):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        emu.client().v1.events.retrieve("evt_nope")
    assert missing.value.http_status == 404
    assert missing.value.user_message == "No such event: 'evt_nope'"


def test_open_sessions_expire_by_themselves_at_expires_at(emu: Emu):
    client = emu.client()
    session = client.v1.checkout.sessions.create(
        params=session_params(expires_at=emu_now(emu) + 31 * 60)
    )
    paid = client.v1.checkout.sessions.create(params=session_params())
    emu.pay(paid.id)
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"

    moved = emu.control("POST", "/clock/advance", json={"seconds": 31 * 60})
    assert moved.status_code == 200
    expired = wait_for(
        lambda: (s := client.v1.checkout.sessions.retrieve(session.id)).status == "expired" and s,
        what="the session to expire",
    )
    assert expired.url is None
    [delivery] = emu.receiver.wait_for_events(1, "checkout.session.expired")
    assert verify(delivery, emu.webhook_secret).data.object.id == session.id
    assert client.v1.checkout.sessions.retrieve(paid.id).status == "complete"  # untouched
    assert emu.pay(session.id).json()["error"]["code"] == "checkout_session_not_open"


def emu_now(emu: Emu) -> int:
    now: int = emu.control("GET", "/health").json()["now"]
    return now
