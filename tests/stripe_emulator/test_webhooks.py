"""Webhook deliveries to a real HTTP endpoint: Stripe's signature, retries with back-off, and the
webhook fault knobs (duplicate, reorder, delay, drop)."""

from __future__ import annotations

import json
import re
import time

import pytest
import stripe

from tests.stripe_emulator.schema_check import assert_fits
from tests.stripe_emulator.support import Emu, session_params, verify, wait_for

EXPIRED = "checkout.session.expired"


def _expire_new_session(emu: Emu) -> str:
    """One event (`checkout.session.expired`); the session's id."""
    client = emu.client()
    session = client.v1.checkout.sessions.create(params=session_params())
    client.v1.checkout.sessions.expire(session.id)
    return session.id


def _session_ids(emu: Emu) -> list[str]:
    return [r.event["data"]["object"]["id"] for r in emu.receiver.events(EXPIRED)]


def test_deliveries_are_signed_as_stripe_signs_them(emu: Emu):
    session_id = _expire_new_session(emu)
    [delivery] = emu.receiver.wait_for_events(1, EXPIRED)

    header = delivery.headers["Stripe-Signature"]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert abs(int(header[2:].split(",")[0]) - time.time()) < 60
    assert delivery.headers["Content-Type"].startswith("application/json")
    event = verify(delivery, emu.webhook_secret)
    assert event.type == EXPIRED and event.data.object.id == session_id
    assert event.id.startswith("evt_") and event.livemode is False
    assert_fits(json.loads(delivery.body), "event")
    stored = emu.client().v1.events.retrieve(event.id)
    assert stored.data.object.id == session_id
    wait_for(  # once the emulator has read the 2xx
        lambda: emu.client().v1.events.retrieve(event.id).pending_webhooks == 0,
        what="the event to count as delivered",
    )

    tampered = delivery.body.replace(b'"expired"', b'"complete"')
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, header, emu.webhook_secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body, header, "whsec_someone_else")


def test_failed_deliveries_are_retried_with_back_off_until_a_2xx(emu: Emu):
    emu.receiver.answer(500, 503)
    _expire_new_session(emu)
    attempts = emu.receiver.wait_for_events(3, EXPIRED, timeout=15)

    assert [a.answered for a in attempts] == [500, 503, 200]
    assert len({a.event["id"] for a in attempts}) == 1
    first_gap = attempts[1].at - attempts[0].at
    second_gap = attempts[2].at - attempts[1].at
    assert 0.45 <= first_gap < 1.5  # --webhook-retry-seconds 0.5 in the tests
    assert second_gap > 1.5 * first_gap  # then doubling
    event_id = attempts[0].event["id"]
    log = wait_for(lambda: len(d := emu.deliveries(event_id)) == 3 and d, what="3 attempts logged")
    assert [(d["attempt"], d["status"]) for d in log] == [(1, 500), (2, 503), (3, 200)]
    assert emu.client().v1.events.retrieve(event_id).pending_webhooks == 0


def test_an_endpoint_that_times_out_is_retried(emu: Emu):
    emu.receiver.stall(3)  # the emulator gives up on an answer after 2 s in the tests
    _expire_new_session(emu)
    attempts = emu.receiver.wait_for_events(2, EXPIRED, timeout=15)
    log = wait_for(lambda: len(d := emu.deliveries()) >= 2 and d, what="two attempts logged")
    assert log[0]["status"] is None and "timed out" in log[0]["error"]
    assert log[1]["status"] == 200
    assert attempts[0].event["id"] == attempts[1].event["id"]


def test_undelivered_events_are_listed_for_reconciliation(emu: Emu):
    emu.receiver.answer(*[500] * 20)
    _expire_new_session(emu)
    emu.receiver.wait_for_events(2, EXPIRED)
    client = emu.client()
    pending = client.v1.events.list(params={"delivery_success": False})
    assert [e.type for e in pending.data] == [EXPIRED]
    assert pending.data[0].pending_webhooks == 1
    assert client.v1.events.list(params={"delivery_success": True}).data == []


def test_duplicate_knob_sends_the_event_twice(emu: Emu):
    emu.fault("webhooks", "duplicate")
    _expire_new_session(emu)
    twice = emu.receiver.wait_for_events(2, EXPIRED)
    assert twice[0].event["id"] == twice[1].event["id"]
    for delivery in twice:
        verify(delivery, emu.webhook_secret)
    _expire_new_session(emu)  # the knob was for one event only
    log = wait_for(lambda: len(d := emu.deliveries()) >= 3 and d, what="three deliveries logged")
    assert sorted(d["fault"] or "-" for d in log) == ["-", "-", "duplicate"]


def test_drop_knob_loses_the_event(emu: Emu):
    emu.fault("webhooks", "drop")
    lost = _expire_new_session(emu)
    kept = _expire_new_session(emu)
    emu.receiver.wait_for_events(1, EXPIRED)
    assert _session_ids(emu) == [kept]
    events = emu.client().v1.events
    pending = wait_for(
        lambda: len(p := events.list(params={"delivery_success": False}).data) == 1 and p,
        what="only the dropped event left undelivered",
    )
    assert [e.data.object.id for e in pending] == [lost]
    [dropped] = emu.deliveries(pending[0].id)
    assert dropped["fault"] == "drop" and dropped["status"] is None


def test_delay_knob_holds_the_event_back(emu: Emu):
    emu.fault("webhooks", "delay", seconds=1.5)
    started = time.monotonic()
    late = _expire_new_session(emu)
    prompt = _expire_new_session(emu)
    emu.receiver.wait_for_events(2, EXPIRED)
    assert _session_ids(emu) == [prompt, late]
    assert emu.receiver.events(EXPIRED)[1].at - started >= 1.4


def test_reorder_knob_delivers_the_next_events_newest_first(emu: Emu):
    emu.fault("webhooks", "reorder", count=3)
    created = [_expire_new_session(emu) for _ in range(3)]
    emu.receiver.wait_for_events(3, EXPIRED)
    assert _session_ids(emu) == list(reversed(created))
    _expire_new_session(emu)
    emu.receiver.wait_for_events(4, EXPIRED)
    assert emu.control("GET", "/faults").json()["webhooks"] == []


def test_an_endpoint_gets_only_its_enabled_events(emu: Emu):
    """As a Stripe webhook endpoint's `enabled_events`: other types are still made and listed,
    but nobody is owed them (pending_webhooks 0), so none is sent or retried."""
    answer = emu.control(
        "POST",
        "/webhook-endpoint",
        json={"url": emu.receiver.url, "enabled_events": ["checkout.session.completed"]},
    )
    assert answer.json()["enabled_events"] == ["checkout.session.completed"]
    client = emu.client()
    session = client.v1.checkout.sessions.create(params=session_params())
    emu.pay(session.id)
    [delivered] = emu.receiver.wait_for_events(1, "checkout.session.completed")
    assert verify(delivered, emu.webhook_secret).data.object.id == session.id

    kinds = {e.type: e for e in client.v1.events.list().data}
    assert kinds["payment_intent.succeeded"].pending_webhooks == 0
    wait_for(
        lambda: not client.v1.events.list(params={"delivery_success": False}).data,
        what="nothing left owed to the endpoint",
    )
    time.sleep(0.3)  # a delivery of the other type would have been sent by now
    assert [r.event["type"] for r in emu.receiver.events()] == ["checkout.session.completed"]
    assert [d["type"] for d in emu.deliveries()] == ["checkout.session.completed"]


def test_enabled_events_are_checked(emu: Emu):
    for wanted in (["payment_intent.nonsense"], [], "checkout.session.completed"):
        answer = emu.control(
            "POST", "/webhook-endpoint", json={"url": emu.receiver.url, "enabled_events": wanted}
        )
        assert answer.status_code == 400, wanted
        assert answer.json()["error"]["param"] == "enabled_events"
