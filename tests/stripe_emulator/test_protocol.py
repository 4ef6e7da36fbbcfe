"""Stripe's wire protocol: keys, errors and their `stripe` exception classes, form encoding,
`Idempotency-Key`, and the API fault knobs."""

from __future__ import annotations

import base64

import pytest
import stripe

from tests.stripe_emulator.schema_check import assert_fits
from tests.stripe_emulator.support import Emu, session_params


def test_a_missing_or_malformed_key_is_a_401_authentication_error(emu: Emu):
    response = emu.http.get("/v1/events")
    assert response.status_code == 401
    assert_fits(response.json(), "error")
    assert "You did not provide an API key" in response.json()["error"]["message"]
    for key in ("not-a-key", "sk_test_short", "pk_test_abcdefghijklmnop", "sk_test_" + "x" * 24):
        with pytest.raises(stripe.AuthenticationError) as refused:
            emu.client(key=key).v1.events.list()
        assert refused.value.http_status == 401
        assert "Invalid API Key provided" in refused.value.user_message
        assert key not in refused.value.user_message  # keys are masked in messages
    with pytest.raises(stripe.AuthenticationError) as live:
        emu.client(key="sk_live_" + "a" * 24).v1.events.list()
    assert "test mode only" in live.value.user_message


def test_basic_auth_and_curl_style_arrays_work_too(emu: Emu):
    basic = base64.b64encode(f"{emu.api_key}:".encode()).decode()
    form = {
        "mode": "payment",
        "success_url": "http://shop.test/ok",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "700",
        "line_items[0][price_data][product_data][name]": "Ran (1985)",
        "metadata[order_id]": "9",
        "expand[]": "line_items",
    }
    response = emu.http.post(
        "/v1/checkout/sessions", data=form, headers={"Authorization": f"Basic {basic}"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["amount_total"] == 700 and body["metadata"] == {"order_id": "9"}
    assert body["line_items"]["data"][0]["description"] == "Ran (1985)"
    assert response.headers["Request-Id"].startswith("req_")


def test_unrecognized_urls_are_stripes_404(emu: Emu):
    response = emu.http.get("/v1/customers", headers={"Authorization": f"Bearer {emu.api_key}"})
    assert response.status_code == 404
    assert "Unrecognized request URL (GET: /v1/customers)" in response.json()["error"]["message"]
    assert_fits(response.json(), "error")
    with pytest.raises(stripe.InvalidRequestError):
        emu.client().v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})


def test_same_key_and_parameters_replay_the_first_answer(emu: Emu):
    client = emu.client()
    options = {"idempotency_key": "checkout:order-42"}
    first = client.v1.checkout.sessions.create(params=session_params(), options=options)
    again = client.v1.checkout.sessions.create(params=session_params(), options=options)
    assert again.id == first.id
    assert again.to_dict() == first.to_dict()
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert again.last_response.request_id == first.last_response.request_id
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert [s.id for s in client.v1.checkout.sessions.list().data] == [first.id]


def test_same_key_other_parameters_or_endpoint_is_an_idempotency_error(emu: Emu):
    client = emu.client()
    options = {"idempotency_key": "checkout:order-43"}
    client.v1.checkout.sessions.create(params=session_params(), options=options)
    with pytest.raises(stripe.IdempotencyError) as conflict:
        client.v1.checkout.sessions.create(
            params=session_params(metadata={"order_id": "44"}), options=options
        )
    assert conflict.value.http_status == 400
    assert "same parameters they were first used with" in conflict.value.user_message
    assert conflict.value.error is not None
    assert conflict.value.error.type == "idempotency_error"
    with pytest.raises(stripe.IdempotencyError) as other_endpoint:
        client.v1.refunds.create(params={"payment_intent": "pi_x"}, options=options)
    assert "same endpoint" in other_endpoint.value.user_message
    assert len(client.v1.checkout.sessions.list().data) == 1


def test_a_refused_request_saves_nothing_under_its_key(emu: Emu):
    client = emu.client()
    options = {"idempotency_key": "checkout:order-45"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(params=session_params(mode=None), options=options)
    fixed = client.v1.checkout.sessions.create(params=session_params(), options=options)
    assert "Idempotent-Replayed" not in fixed.last_response.headers


def test_idempotent_refund_is_made_once(emu: Emu):
    client = emu.client()
    session = client.v1.checkout.sessions.create(params=session_params())
    intent = emu.pay(session.id).json()["payment_intent"]["id"]
    params = {"payment_intent": intent, "amount": 400}
    options = {"idempotency_key": "refund:77"}
    first = client.v1.refunds.create(params=params, options=options)
    second = client.v1.refunds.create(params=params, options=options)
    assert first.id == second.id
    assert client.v1.charges.retrieve(first.charge).amount_refunded == 400
    assert len(client.v1.refunds.list().data) == 1


@pytest.mark.parametrize(
    ("mode", "error", "status"),
    [("500", stripe.APIError, 500), ("429", stripe.RateLimitError, 429)],
)
def test_api_fault_knobs_answer_with_stripes_errors(emu: Emu, mode, error, status):
    emu.fault("api", mode, count=2)
    client = emu.client()
    for _ in range(2):
        with pytest.raises(error) as failed:
            client.v1.checkout.sessions.create(params=session_params())
        assert failed.value.http_status == status
        assert_fits(failed.value.json_body, "error")
    assert client.v1.checkout.sessions.create(params=session_params()).status == "open"
    assert len(client.v1.checkout.sessions.list().data) == 1  # the failed calls made nothing
    assert emu.control("GET", "/faults").json()["api"] == []


def test_stripe_client_retries_a_500_with_the_same_key_and_succeeds(emu: Emu):
    emu.fault("api", "500")
    session = emu.client(retries=1).v1.checkout.sessions.create(params=session_params())
    assert session.status == "open"
    assert len(emu.client().v1.checkout.sessions.list().data) == 1


def test_timeout_before_processing_makes_nothing(emu: Emu):
    emu.fault("api", "timeout", seconds=3)
    with pytest.raises(stripe.APIConnectionError):
        emu.client(timeout=1).v1.checkout.sessions.create(params=session_params())
    assert emu.client().v1.checkout.sessions.list().data == []


def test_a_stalled_body_comes_after_the_headers_and_the_object_exists(emu: Emu):
    emu.fault("api", "stall_body", seconds=3)
    with pytest.raises(stripe.APIConnectionError):  # the requests client times out reading it
        emu.client(timeout=1).v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": "checkout:order-47"}
        )
    [created] = emu.client().v1.checkout.sessions.list().data
    retried = emu.client().v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "checkout:order-47"}
    )
    assert retried.id == created.id


def test_timeout_after_processing_is_survived_by_retrying_with_the_same_key(emu: Emu):
    emu.fault("api", "timeout", seconds=3, after=True)
    with pytest.raises(stripe.APIConnectionError):
        emu.client(timeout=1).v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": "checkout:order-46"}
        )
    [created] = emu.client().v1.checkout.sessions.list().data  # Stripe made it anyway
    retried = emu.client().v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "checkout:order-46"}
    )
    assert retried.id == created.id
    assert retried.last_response.headers["Idempotent-Replayed"] == "true"
