"""Checkout Sessions through the real `stripe` client: create, retrieve, line items, expire, and
the rules Stripe enforces on them."""

from __future__ import annotations

import time

import pytest
import stripe

from tests.stripe_emulator.schema_check import assert_fits
from tests.stripe_emulator.support import Emu, line, session_params


def test_create_session_with_nested_parameters_and_retrieve_it(emu: Emu):
    client = emu.client()
    params = session_params(
        line_items=[
            line("Stalker (1979)", 450, "eur", quantity=2),
            line("Solaris (1972)", 300, "eur"),
        ],
        metadata={"order_id": "42", "user_id": "7"},
        client_reference_id="order-42",
        customer_email="viewer@example.com",
        payment_intent_data={"metadata": {"order_id": "42"}},
    )
    before = int(time.time())
    session = client.v1.checkout.sessions.create(params=params)

    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.livemode is False
    assert before <= session.created <= int(time.time())
    assert session.mode == "payment"
    assert (session.status, session.payment_status) == ("open", "unpaid")
    assert (session.currency, session.amount_subtotal, session.amount_total) == ("eur", 1200, 1200)
    assert session.metadata.to_dict() == {"order_id": "42", "user_id": "7"}
    assert session.client_reference_id == "order-42"
    assert session.customer_email == "viewer@example.com"
    assert session.expires_at == session.created + 24 * 3600  # Stripe's default
    assert session.url == f"{emu.url}/c/pay/{session.id}"
    assert session.payment_intent is None  # created when the customer pays
    assert_fits(session.to_dict(), "checkout.session")

    again = client.v1.checkout.sessions.retrieve(session.id)
    assert again.to_dict() == session.to_dict()


def test_line_items_are_listed_in_order_with_pagination_and_expandable(emu: Emu):
    client = emu.client()
    lines = [line(f"Film {i}", 100 * (i + 1), quantity=i + 1) for i in range(3)]
    session = client.v1.checkout.sessions.create(params=session_params(line_items=lines))

    first = client.v1.checkout.sessions.line_items.list(session.id, params={"limit": 2})
    assert [item.description for item in first.data] == ["Film 0", "Film 1"]
    assert first.has_more is True
    rest = client.v1.checkout.sessions.line_items.list(
        session.id, params={"limit": 2, "starting_after": first.data[-1].id}
    )
    assert [item.description for item in rest.data] == ["Film 2"]
    assert rest.has_more is False
    item = first.data[1]
    assert (item.quantity, item.amount_subtotal, item.amount_total) == (2, 400, 400)
    assert item.price.unit_amount == 200 and item.price.currency == "usd"
    for listed in (*first.data, *rest.data):
        assert_fits(listed.to_dict(), "item")

    expanded = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items"]})
    assert [i.description for i in expanded.line_items.data] == ["Film 0", "Film 1", "Film 2"]


def test_expire_an_open_session_and_refuse_to_expire_it_again(emu: Emu):
    client = emu.client()
    session = client.v1.checkout.sessions.create(params=session_params())

    expired = client.v1.checkout.sessions.expire(session.id)
    assert (expired.status, expired.url) == ("expired", None)
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    [delivery] = emu.receiver.wait_for_events(1, "checkout.session.expired")
    assert delivery.event["data"]["object"]["id"] == session.id

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.expire(session.id)
    assert refused.value.http_status == 400
    assert 'status of "expired"' in refused.value.user_message


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (24 * 3600 + 60, "less than 24 hours"),
        (29 * 60, "at least 30 minutes"),
    ],
)
def test_expires_at_must_be_between_30_minutes_and_24_hours(emu: Emu, offset, message):
    client = emu.client()
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(
            params=session_params(expires_at=int(time.time()) + offset)
        )
    assert refused.value.param == "expires_at"
    assert message in refused.value.user_message
    soon = int(time.time()) + 1900
    assert client.v1.checkout.sessions.create(params=session_params(expires_at=soon)).id


@pytest.mark.parametrize(
    ("currency", "unit_amount", "quantity", "accepted"),
    [
        ("usd", 49, 1, False),
        ("usd", 25, 2, True),  # the minimum applies to the total
        ("gbp", 30, 1, True),
        ("gbp", 29, 1, False),
        ("jpy", 49, 1, False),  # zero-decimal: the minimum is 50 yen, not 0.50
        ("jpy", 50, 1, True),
    ],
)
def test_minimum_total_per_currency(emu: Emu, currency, unit_amount, quantity, accepted):
    params = session_params(line_items=[line("Short film", unit_amount, currency, quantity)])
    sessions = emu.client().v1.checkout.sessions
    if accepted:
        assert sessions.create(params=params).amount_total == unit_amount * quantity
        return
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sessions.create(params=params)
    assert refused.value.code == "amount_too_small"
    assert "at least" in refused.value.user_message


def test_currency_rules(emu: Emu):
    client = emu.client()
    for bad in ("USD", "xyz"):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.checkout.sessions.create(
                params=session_params(line_items=[line("Film", 500, bad)])
            )
        assert refused.value.param == "line_items[0][price_data][currency]"
        assert f"Invalid currency: {bad}" in refused.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as mixed:
        client.v1.checkout.sessions.create(
            params=session_params(line_items=[line("A", 500, "usd"), line("B", 500, "eur")])
        )
    assert mixed.value.param == "line_items[1][price_data][currency]"


@pytest.mark.parametrize(
    ("drop", "param"),
    [
        ("mode", "mode"),
        ("success_url", "success_url"),
        ("line_items", "line_items"),
    ],
)
def test_required_parameters(emu: Emu, drop, param):
    params = session_params()
    del params[drop]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        emu.client().v1.checkout.sessions.create(params=params)
    assert (refused.value.http_status, refused.value.code) == (400, "parameter_missing")
    assert refused.value.param == param
    assert refused.value.user_message == f"Missing required param: {param}."


def test_nested_required_and_unknown_parameters(emu: Emu):
    client = emu.client()
    nameless = line("", 500)
    nameless["price_data"]["product_data"] = {}
    no_name = session_params(line_items=[nameless])
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.create(params=no_name)
    assert missing.value.param == "line_items[0][price_data][product_data][name]"

    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.checkout.sessions.create(params=session_params(colour="blue"))
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "colour")

    with pytest.raises(stripe.InvalidRequestError) as bad_int:
        client.v1.checkout.sessions.create(params=session_params(expires_at="soon"))
    assert bad_int.value.code == "parameter_invalid_integer"

    with pytest.raises(stripe.InvalidRequestError) as long_value:
        client.v1.checkout.sessions.create(params=session_params(metadata={"note": "x" * 501}))
    assert long_value.value.param == "metadata[note]"


def test_unknown_session_is_a_404_resource_missing(emu: Emu):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        emu.client().v1.checkout.sessions.retrieve("cs_test_nope")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    assert missing.value.user_message == "No such checkout.session: 'cs_test_nope'"
    assert missing.value.param == "session"


def test_list_sessions_filters_by_payment_intent_and_status(emu: Emu):
    client = emu.client()
    paid = client.v1.checkout.sessions.create(params=session_params())
    open_one = client.v1.checkout.sessions.create(params=session_params())
    intent = emu.pay(paid.id).json()["payment_intent"]["id"]

    by_intent = client.v1.checkout.sessions.list(params={"payment_intent": intent})
    assert [s.id for s in by_intent.data] == [paid.id]
    opened = client.v1.checkout.sessions.list(params={"status": "open"})
    assert [s.id for s in opened.data] == [open_one.id]
    everything = client.v1.checkout.sessions.list()
    assert [s.id for s in everything.data] == [open_one.id, paid.id]  # newest first
