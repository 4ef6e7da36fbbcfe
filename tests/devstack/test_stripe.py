"""Which Stripe the dev stack uses (devstack/stripe.py): a configured STRIPE_API_BASE, Stripe
itself for a real test key, or the emulator, started with a generated key and secret."""

from __future__ import annotations

from pathlib import Path

import pytest
import stripe

from devstack.ports import free_port
from devstack.service import ServiceError
from devstack.stripe import choose_stripe

REAL_LOOKING_KEY = "sk_test_51Hx" + "Ab3" * 12


def _choose(tmp_path: Path, **settings: str):
    return choose_stripe(
        settings.get,
        state_dir=tmp_path / "stripe",
        port=free_port,
        webhook_url="http://127.0.0.1:8001/payments/webhook/",
        log_path=tmp_path / "stripe-emulator.log",
    )


def test_a_configured_api_base_is_used_as_it_is(tmp_path):
    choice = _choose(tmp_path, STRIPE_API_BASE="http://127.0.0.1:12111", STRIPE_API_KEY="sk_x")
    assert choice.service is None and choice.env == {}
    assert "from STRIPE_API_BASE" in choice.summary


def test_a_real_test_key_without_api_base_talks_to_stripe(tmp_path):
    choice = _choose(tmp_path, STRIPE_API_KEY=REAL_LOOKING_KEY, STRIPE_WEBHOOK_SECRET="whsec_x")
    assert choice.service is None and choice.env == {}
    assert "api.stripe.com" in choice.summary
    assert not (tmp_path / "stripe").exists()


def test_a_live_key_is_refused(tmp_path):
    with pytest.raises(ServiceError, match="live key"):
        _choose(tmp_path, STRIPE_API_KEY="sk_live_" + "x" * 30)


@pytest.mark.parametrize("configured_key", [None, "sk_test_dev_placeholder"])
def test_otherwise_the_emulator_runs_with_a_generated_key_that_is_kept(tmp_path, configured_key):
    settings = {"STRIPE_API_KEY": configured_key} if configured_key else {}
    choice = _choose(tmp_path, **settings)
    assert choice.service is not None
    with choice.service:
        env = choice.env
        assert env["STRIPE_API_BASE"] == choice.service.url
        assert env["STRIPE_API_KEY"].startswith("sk_test_")
        assert env["STRIPE_WEBHOOK_SECRET"].startswith("whsec_")
        assert env["STRIPE_API_KEY"] not in choice.summary
        client = stripe.StripeClient(
            env["STRIPE_API_KEY"], base_addresses={"api": env["STRIPE_API_BASE"]}
        )
        assert client.v1.events.list().data == []
        other = stripe.StripeClient(
            "sk_test_someoneelse12345", base_addresses={"api": env["STRIPE_API_BASE"]}
        )
        with pytest.raises(stripe.AuthenticationError):
            other.v1.events.list()
    again = _choose(tmp_path, **settings)
    assert again.service is not None
    with again.service:
        assert again.env["STRIPE_API_KEY"] == env["STRIPE_API_KEY"]  # same key next time
        assert (tmp_path / "stripe" / "state.json").exists()
