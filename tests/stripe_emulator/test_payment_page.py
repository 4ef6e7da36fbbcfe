"""The hosted payment page in a real browser: headless Chromium (Debian's `chromium`) driven by
Playwright. Skipped, with the reason, when either is missing."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.stripe_emulator.support import Emu, line, session_params

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
)
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (apt-get install chromium)",
)


@pytest.fixture
def page():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


def _fill_card(page, number: str) -> None:
    page.fill("#email", "viewer@example.com")
    page.fill("#cardNumber", number)
    page.fill("#cardExpiry", "12 / 34")
    page.fill("#cardCvc", "123")
    page.click("#submit")


def test_pay_on_the_hosted_page_declined_then_accepted(emu: Emu, page):
    client = emu.client()
    session = client.v1.checkout.sessions.create(
        params=session_params(
            success_url=f"{emu.receiver.base}/paid?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{emu.receiver.base}/cart",
            line_items=[line("Metropolis (1927)", 500, quantity=2), line("M (1931)", 350)],
        )
    )
    page.goto(session.url)
    assert "Metropolis (1927)" in page.text_content("body")
    assert page.text_content("#total").strip() == "$13.50"
    assert page.get_attribute("#cancel", "href") == f"{emu.receiver.base}/cart"

    _fill_card(page, "4000 0000 0000 0002")
    page.wait_for_selector("#error")
    assert page.text_content("#error").strip() == "Your card was declined."
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"

    _fill_card(page, "4242 4242 4242 4242")
    page.wait_for_url(f"{emu.receiver.base}/paid*")
    landed = urlsplit(page.url)
    assert parse_qs(landed.query)["session_id"] == [session.id]
    paid = client.v1.checkout.sessions.retrieve(session.id)
    assert (paid.status, paid.payment_status) == ("complete", "paid")
    assert paid.customer_details.email == "viewer@example.com"

    page.goto(session.url)  # coming back to a paid session: no form, a notice
    assert "has been paid" in page.text_content("#status")
    assert page.query_selector("#cardNumber") is None
