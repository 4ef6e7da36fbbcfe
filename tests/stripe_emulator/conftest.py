"""Per test: a fresh webhook receiver, and the session's emulator reset and pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import StripeEmulator
from tests.stripe_emulator.support import Emu, WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def emu(stripe_emulator: StripeEmulator, receiver: WebhookReceiver) -> Iterator[Emu]:
    emu = Emu(
        stripe_emulator.url, stripe_emulator.api_key, stripe_emulator.webhook_secret, receiver
    )
    emu.reset()
    assert emu.control("POST", "/webhook-endpoint", json={"url": receiver.url}).status_code == 200
    try:
        yield emu
    finally:
        emu.reset()  # no retries of this test's events reach the next test's receiver
        emu.close()
