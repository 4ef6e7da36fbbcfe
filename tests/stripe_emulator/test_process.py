"""The emulator as its own process (`python -m devstack.stripe_emulator`): its command line, its
state file across a restart, and a webhook endpoint it gives up on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import stripe

from devstack.stripe import start_stripe_emulator
from tests.stripe_emulator.support import WebhookReceiver, session_params, verify, wait_for

KEY = "sk_test_processtest0123456789"
SECRET = "whsec_processtest0123456789"


def _client(url: str) -> Any:  # untyped: the tests pass plain dicts as params
    return stripe.StripeClient(KEY, base_addresses={"api": url}, max_network_retries=0)


def test_the_command_line_refuses_a_secret_that_is_not_a_webhook_secret():
    done = subprocess.run(
        [sys.executable, "-m", "devstack.stripe_emulator", "--port", "1", "--webhook-secret", "x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--webhook-secret must look like Stripe's" in done.stderr


def test_state_file_keeps_objects_keys_and_undelivered_events_across_a_restart(tmp_path: Path):
    receiver = WebhookReceiver()
    receiver.answer(*[500] * 50)  # nothing gets through before the restart
    state = tmp_path / "state.json"
    kwargs: dict[str, Any] = {
        "webhook_secret": SECRET,
        "webhook_url": receiver.url,
        "api_key": KEY,
        "state_file": state,
        "webhook_retry_seconds": 0.2,
    }
    try:
        with start_stripe_emulator(tmp_path, **kwargs) as first:
            client = _client(first.url)
            session = client.v1.checkout.sessions.create(
                params=session_params(), options={"idempotency_key": "checkout:order-1"}
            )
            assert httpx.post(
                f"{first.url}/_emulator/checkout/sessions/{session.id}/pay",
                json={"card": "4242424242424242"},
            ).is_success
            receiver.wait_for_events(2)
        assert state.exists()

        receiver.recover()
        with start_stripe_emulator(tmp_path, **kwargs) as second:
            client = _client(second.url)
            again = client.v1.checkout.sessions.retrieve(session.id)
            assert (again.status, again.payment_status) == ("complete", "paid")
            replayed = client.v1.checkout.sessions.create(
                params=session_params(), options={"idempotency_key": "checkout:order-1"}
            )
            assert replayed.id == session.id
            assert replayed.last_response.headers["Idempotent-Replayed"] == "true"
            delivered = wait_for(
                lambda: [r for r in receiver.events("checkout.session.completed")
                         if r.answered == 200],
                what="the completed event, delivered after the restart",
            )  # fmt: skip
            assert verify(delivered[0], SECRET).data.object.id == session.id
    finally:
        receiver.close()


def test_a_webhook_endpoint_that_keeps_failing_is_given_up(tmp_path: Path):
    receiver = WebhookReceiver()
    receiver.answer(*[500] * 50)
    try:
        with start_stripe_emulator(
            tmp_path,
            webhook_secret=SECRET,
            webhook_url=receiver.url,
            api_key=KEY,
            webhook_retry_seconds=0.2,
            webhook_max_attempts=3,
        ) as emulator:
            client = _client(emulator.url)
            session = client.v1.checkout.sessions.create(params=session_params())
            client.v1.checkout.sessions.expire(session.id)

            def given_up() -> dict | None:
                body = httpx.get(f"{emulator.url}/_emulator/deliveries").json()
                return body if len(body["data"]) == 3 and body["retrying"] == {} else None

            log = wait_for(given_up, what="three failed attempts and no more retries")["data"]
            assert [(d["attempt"], d["status"]) for d in log] == [(1, 500), (2, 500), (3, 500)]
            [pending] = client.v1.events.list(params={"delivery_success": False}).data
            assert pending.pending_webhooks == 1
    finally:
        receiver.close()
