"""Paying in a real browser: headless Chromium opens the checkout URL the API gave, the buyer
types a card on Stripe's hosted page and submits, and Stripe's redirect lands on the API's own
`/payments/success/` page. Skipped, with the reason, without Playwright or Chromium.

Playwright's sync API runs on one thread of its own (its objects belong to the thread that made
them), so the async test keeps talking to the API between the browser's steps.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
from quart.typing import TestClientProtocol

from domain.models import UserGroup
from tests.commerce.conftest import open_shop
from tests.commerce.journey_support import (
    Person,
    checkout_url,
    new_movie,
    order,
    order_becomes,
    order_of,
    owned,
    person,
)
from tests.commerce.support import DECLINED_CARD, GOOD_CARD, Shop
from tests.conftest import Stack, StripeEmulator
from tests.stripe_emulator.test_payment_page import CHROMIUM, CHROMIUM_ARGS

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
)
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (apt-get install chromium)",
)
T = TypeVar("T")


class Browser:
    """A headless Chromium page on a thread of its own. The shop's public address (where
    Stripe sends the buyer back) resolves to the API under test, as DNS would in production."""

    def __init__(self, shop: Shop) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium")
        public = urlsplit(shop.settings.public_base_url)
        api = urlsplit(shop.url)
        self._rule = f"MAP {public.hostname} {api.hostname}:{api.port}"
        self.public_base = shop.settings.public_base

    async def run(self, step: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, step, *args)

    def open(self) -> None:
        self._playwright = sync_api.sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            headless=True,
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules={self._rule}"],
        )
        self.page = self._browser.new_page()

    def close(self) -> None:
        self._browser.close()
        self._playwright.stop()

    def goto(self, url: str) -> str:
        self.page.goto(url)
        return str(self.page.text_content("body"))

    def pay(self, card: str) -> None:
        page = self.page
        page.fill("#email", "viewer@example.com")
        page.fill("#cardNumber", card)
        page.fill("#cardExpiry", "12 / 34")
        page.fill("#cardCvc", "123")
        page.click("#submit")

    def decline_shown(self) -> str:
        self.page.wait_for_selector("#error")
        return str(self.page.text_content("#error")).strip()

    def landing(self) -> tuple[str, dict[str, Any]]:
        """Wait for Stripe's redirect to the shop's success page: its URL and the JSON shown."""
        self.page.wait_for_url(f"{self.public_base}/payments/success/*")
        return self.page.url, json.loads(str(self.page.text_content("body")))

    def reload(self) -> dict[str, Any]:
        self.page.reload()
        shown: dict[str, Any] = json.loads(str(self.page.text_content("body")))
        return shown


@asynccontextmanager
async def browser(shop: Shop) -> AsyncIterator[Browser]:
    opened = Browser(shop)
    await opened.run(opened.open)
    try:
        yield opened
    finally:
        await opened.run(opened.close)
        opened._thread.shutdown()


async def _pending_order(
    shop: Shop, client: TestClientProtocol, stack: Stack
) -> tuple[Person, Any]:
    me = await person(client, stack, UserGroup.USER)
    moderator = await person(client, stack, UserGroup.MODERATOR)
    movies = [await new_movie(shop, moderator, price) for price in ("6.00", "2.50")]
    made = await order_of(shop, me, *(m["uuid"] for m in movies))
    return me, made


async def test_pay_in_a_real_browser_declined_then_accepted_lands_on_the_success_page(
    client: TestClientProtocol, stack: Stack, stripe_emulator: StripeEmulator
) -> None:
    async with open_shop(stack, stripe_emulator) as shop, browser(shop) as chromium:
        me, made = await _pending_order(shop, client, stack)
        checkout = await checkout_url(shop, me, made["id"])

        page = await chromium.run(chromium.goto, checkout["checkout_url"])
        assert "$8.50" in page
        for item in made["items"]:
            assert item["movie_name"] in page

        # A declined card: the page says so, and the order still waits for its payment.
        await chromium.run(chromium.pay, DECLINED_CARD)
        assert await chromium.run(chromium.decline_shown) == "Your card was declined."
        await asyncio.sleep(1)  # time for any (wrong) webhook to have landed
        detail = await order(shop, me, made["id"])
        assert (detail["status"], detail["payment"]) == ("pending", None)
        assert await owned(shop, me) == {}

        # The good card on the same page: Stripe sends the browser to our success page.
        await chromium.run(chromium.pay, GOOD_CARD)
        url, shown = await chromium.run(chromium.landing)
        assert parse_qs(urlsplit(url).query)["session_id"] == [checkout["session_id"]]
        assert shown["order_id"] == made["id"]
        # The webhook may not have landed yet: the page tells the truth either way.
        assert shown["status"] in ("processing", "paid"), shown
        for _ in range(100):  # the buyer reloading the page until the webhook has landed
            if shown["status"] != "processing":
                break
            await asyncio.sleep(0.2)
            shown = await chromium.run(chromium.reload)
        assert shown == {
            "order_id": made["id"],
            "status": "paid",
            "message": "Payment was successful! Thank you!",
        }

        detail = await order_becomes(shop, me, made["id"], "paid", timeout=5)
        assert detail["payment"]["amount"] == "8.50"
        assert await owned(shop, me) == {i["movie_uuid"]: i["price"] for i in made["items"]}
