"""Property: whatever a buyer, Stripe and its webhooks do, in any order, the money and data
invariants hold after every step (tests/commerce/invariants.py), and the shop does what a
simple model of it predicts: the answer to each request, the cart, the orders' statuses, what
the buyer owns and the state of each Stripe page.

Stories of 6 to 12 steps: add / remove a movie, create an order, check out, pay the latest
Stripe page (good card, declined card, with its webhook delivered twice, or with its webhooks
late and a cancel right behind), Stripe expiring the page, cancel, refund, Stripe re-sending
an old event, an operator terminating the checkout run, paying an older page still open. Five
written stories always run, then 15 drawn from Hypothesis' seed (mostly steps that move the
story on, sometimes any step). Each example has a fresh buyer, three movies and a reset
emulator; after each step the test waits until the system is at rest (polling, never a fixed
sleep). A failure prints its steps and the (steps, seed) that replay it. A sixth story (a lost
run, then a checkout again) is the bug this test found, kept as a regression test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from random import Random
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import note as hypothesis_note
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from quart.typing import TestClientProtocol
from temporalio.client import WorkflowExecutionStatus

from tests.commerce.invariants import broken_invariants, broken_moves, wait_until_at_rest
from tests.commerce.support import (
    DECLINED_CARD,
    GOOD_CARD,
    Buyer,
    Shop,
    buyer,
    movies,
    rows,
    signed,
)
from tests.conftest import Stack
from workflows.ids import checkout_workflow_id

PRICES = ("3.00", "4.50", "9.99")
# Found by this test (see test_a_lost_checkout_run_does_not_block_the_order): a run that replaced
# one an operator terminated reused its Stripe idempotency key with new parameters, so Stripe
# refused every checkout of that order (502). Keys now name the run; stories check such orders out.
# The run that replaces a lost one takes over the page the lost run left open (the same page is
# handed out again): an order never has two open pages.
LOST_RUN_CHECKOUT_FIXED = True


def note(text: str) -> None:
    """Hypothesis' note (printed with a failing example), or a print outside a @given test."""
    hypothesis_note(text) if currently_in_test_context() else print(text)


def event(text: str) -> None:
    if currently_in_test_context():
        hypothesis_event(text)


CARDS = ("good", "good", "declined")


def any_step(rnd: Random) -> tuple[Any, ...]:
    """Any step at all, useful or not (refusals, stale orders, replays)."""
    movie, back, card = rnd.randrange(len(PRICES)), rnd.randrange(2), rnd.choice(CARDS)
    return rnd.choice(
        [
            ("add", movie),
            ("remove", movie),
            ("order",),
            ("checkout", back),
            ("pay", card, rnd.choice(("once", "twice"))),
            ("pay_then_cancel", card),
            ("expire",),
            ("cancel", back),
            ("refund", back),
            ("replay", rnd.randrange(3)),
            ("lose_run",),
            ("pay_older",),
        ]
    )


def next_step(model: Model, rnd: Random) -> tuple[Any, ...]:
    """Mostly a step that moves the buyer's story on (uniform steps would rarely get as far as
    a payment within 12), sometimes any step at all."""
    options: list[tuple[float, tuple[Any, ...]]] = [(2.0, ("any",))]
    pending = model.pending()
    owned = model.owned()
    free = [
        i
        for i in range(len(PRICES))
        if i not in model.cart and i not in owned and not (pending and i in pending.movies)
    ]
    options += [(3.0 / len(free), ("add", i)) for i in free]
    taken = [i for i in range(len(PRICES)) if i not in free]
    options += [(0.6 / len(taken), ("add", i)) for i in taken]  # refused: owned, ordered, in cart
    if model.cart and not pending:
        options.append((4.0, ("order",)))
    if pending and not model.open_page(pending):
        options.append((4.0, ("checkout", 0)))
    if model.latest_page and model.pages[model.latest_page] == "open":
        card = rnd.choice(CARDS)
        options += [
            (5.0, ("pay", card, rnd.choice(("once", "once", "twice")))),
            (1.5, ("pay_then_cancel", card)),
            (1.0, ("expire",)),
            (1.0, ("cancel", 0)),
            (0.7, ("lose_run",)),
        ]
    if [p for p, status in model.pages.items() if status == "open" and p != model.latest_page]:
        options.append((2.0, ("pay_older",)))
    paid = [back for back in (0, 1) if (o := model.order(back)) and o.status == "paid"]
    options += [(3.0 / len(paid), ("refund", back)) for back in paid]
    [step] = rnd.choices([o for _, o in options], weights=[w for w, _ in options])
    return any_step(rnd) if step == ("any",) else step


@dataclass
class OrderModel:
    id: int
    movies: list[int]
    status: str = "pending"
    sessions: list[str] = field(default_factory=list)
    # An operator terminated its checkout run and no checkout has started a run since: a cancel
    # then finds no run to close the open page, which may stay open (and be paid late). The
    # next checkout's run takes the page over.
    run_lost: bool = False


@dataclass
class Model:
    """What the shop should look like, from the steps alone."""

    cart: list[int] = field(default_factory=list)
    orders: list[OrderModel] = field(default_factory=list)
    pages: dict[str, str] = field(default_factory=dict)  # Stripe session id -> status
    page_order: dict[str, OrderModel] = field(default_factory=dict)
    latest_page: str | None = None

    def owned(self) -> set[int]:
        return {m for o in self.orders if o.status == "paid" for m in o.movies}

    def pending(self) -> OrderModel | None:
        return next((o for o in self.orders if o.status == "pending"), None)

    def order(self, back: int) -> OrderModel | None:
        return self.orders[-1 - back] if back < len(self.orders) else None

    def open_page(self, order: OrderModel) -> str | None:
        return next((s for s in order.sessions if self.pages[s] == "open"), None)


def expect(response: httpx.Response, status: int, codes: set[str] | None = None) -> None:
    assert response.status_code == status, f"{response.status_code} {response.text}"
    if codes is not None:
        assert response.json()["error"] in codes, response.text


@dataclass
class Run:
    shop: Shop
    me: Buyer
    films: list[dict[str, Any]]
    model: Model = field(default_factory=Model)
    duplicates_due: int = 0
    checkout_after_lost_run: bool = LOST_RUN_CHECKOUT_FIXED

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.shop.http.post(path, headers=self.me.headers, **kwargs)

    async def add(self, i: int) -> None:
        m = self.model
        codes = set()
        if i in m.owned():
            codes.add("movie_already_purchased")
        pending = m.pending()
        if pending and i in pending.movies:
            codes.add("movie_in_pending_order")
        if i in m.cart:
            codes.add("movie_already_in_cart")
        response = await self.post("/cart/add/", json={"movie_uuid": self.films[i]["uuid"]})
        if codes:
            expect(response, 409, codes)
        else:
            expect(response, 201)
            m.cart.append(i)

    async def remove(self, i: int) -> None:
        uuid = self.films[i]["uuid"]
        response = await self.shop.http.delete(f"/cart/items/{uuid}/", headers=self.me.headers)
        if i in self.model.cart:
            expect(response, 200)
            self.model.cart.remove(i)
        else:
            expect(response, 404, {"movie_not_in_cart"})

    async def order(self) -> None:
        m = self.model
        codes = set()
        if not m.cart:
            codes.add("cart_empty")
        if m.pending():
            codes.add("pending_order_exists")
        response = await self.post("/orders/create/")
        if codes:
            expect(response, 409, codes)
            return
        expect(response, 201)
        body = response.json()
        total = sum((Decimal(PRICES[i]) for i in m.cart), Decimal(0))
        assert Decimal(body["total_amount"]) == total, body
        m.orders.append(OrderModel(int(body["id"]), list(m.cart)))
        m.cart.clear()

    async def checkout(self, back: int) -> None:
        order = self.model.order(back)
        if order is None or (order.run_lost and not self.checkout_after_lost_run):
            return
        response = await self.post(f"/orders/{order.id}/checkout/")
        if order.status != "pending":
            expect(response, 409, {"order_not_pending"})
            return
        expect(response, 200)
        session_id = response.json()["session_id"]
        already = self.model.open_page(order)
        if already is not None:
            # The same open page, never a second: a run that replaced a lost one takes it over.
            assert session_id == already, "a second page while one is open"
        else:
            assert session_id not in self.model.pages, "a closed page handed out again"
            self.model.pages[session_id] = "open"
            self.model.page_order[session_id] = order
            order.sessions.append(session_id)
        order.run_lost = False  # a run runs again, and it knows the order's open page
        self.model.latest_page = session_id

    async def _pay(self, card: str, page: str | None = None) -> tuple[str, OrderModel] | None:
        """Pay the page (the latest by default); the model follows. None when there is none."""
        page = page or self.model.latest_page
        if page is None:
            return None
        order = self.model.page_order[page]
        response = await self.shop.pay(page, GOOD_CARD if card == "good" else DECLINED_CARD)
        if self.model.pages[page] != "open":
            expect(response, 400)
        elif card == "declined":
            expect(response, 402)
        else:
            expect(response, 200)
            self.model.pages[page] = "complete"
            if order.status == "pending":
                order.status = "paid"
            # else the page outlived its order (a lost run): the payment is recorded unapplied
        return page, order

    async def pay(self, card: str, delivered: str) -> None:
        if delivered == "twice":
            await self.shop.fault("webhooks", "duplicate", count=1)
        await self._pay(card)
        if delivered == "twice":
            knobs = (await self.shop.emu.get("/_emulator/faults")).json()["webhooks"]
            if knobs:  # no event was sent (the page was closed): disarm it
                await self.shop.emu.delete("/_emulator/faults")
            else:
                self.duplicates_due += 1

    async def pay_older(self) -> None:
        """The buyer pays, with a good card, an older page still open in another tab."""
        latest = self.model.latest_page
        older = [p for p, status in self.model.pages.items() if status == "open" and p != latest]
        if older:
            await self._pay("good", older[0])

    async def pay_then_cancel(self, card: str) -> None:
        """Stripe takes the money but its webhooks are late; the buyer cancels meanwhile."""
        if self.model.latest_page is None:
            return
        order = self.model.page_order[self.model.latest_page]
        before = order.status
        await self.shop.fault("webhooks", "delay", count=5, seconds=1.5)
        await self._pay(card)
        await self.shop.emu.delete("/_emulator/faults")
        if not (order.run_lost and (before, order.status) == ("pending", "paid")):
            await self.cancel_order(order)
            return
        # No run asks Stripe first: the cancel and the late webhook race. Either the cancel
        # wins (the payment is then recorded unapplied) or the payment does.
        response = await self.post(f"/orders/cancel/{order.id}/")
        if response.status_code == 200:
            order.status = "cancelled"
        else:
            expect(response, 409, {"order_paid", "order_not_pending"})

    async def expire(self) -> None:
        page = self.model.latest_page
        if page is None:
            return
        response = await self.shop.emu.post(f"/_emulator/checkout/sessions/{page}/expire")
        if self.model.pages[page] == "open":
            expect(response, 200)
            self.model.pages[page] = "expired"  # the order waits for a new page
        else:
            expect(response, 400)

    async def cancel(self, back: int) -> None:
        order = self.model.order(back)
        if order is not None:
            await self.cancel_order(order)

    async def cancel_order(self, order: OrderModel) -> None:
        response = await self.post(f"/orders/cancel/{order.id}/")
        if order.status == "pending":
            expect(response, 200)
            order.status = "cancelled"
            for page in order.sessions:  # Stripe's pages are closed first
                if self.model.pages[page] == "open" and not order.run_lost:
                    self.model.pages[page] = "expired"
        else:
            expect(response, 409, {"order_not_pending", "order_paid"})

    async def lose_run(self) -> None:
        """An operator terminates the latest order's checkout run (Stripe's page stays open,
        so a later payment can come for an order that is no longer pending)."""
        order = self.model.order(0)
        if order is None or not order.sessions:
            return
        handle = self.shop.stack.client.get_workflow_handle(checkout_workflow_id(order.id))
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("test: the run is lost")
            order.run_lost = True

    async def refund(self, back: int) -> None:
        order = self.model.order(back)
        if order is None:
            return
        response = await self.post(f"/orders/refund/{order.id}/")
        if order.status == "paid":
            expect(response, 202)
            order.status = "refunded"  # good cards refund at once
        else:
            expect(response, 409, {"order_not_paid", "order_not_refundable", "already_refunded"})

    async def replay(self, k: int) -> None:
        """Stripe sends an event it sent before (a retry after a lost answer), freshly signed."""
        page = await self.shop.stripe_get("/events", limit=3)
        if k >= len(page["data"]):
            return
        body, signature = signed(self.shop.emulator.webhook_secret, page["data"][k])
        response = await self.shop.http.post(
            "/payments/webhook/",
            content=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
        expect(response, 200)

    async def step(self, action: tuple[Any, ...]) -> None:
        name, *args = action
        await getattr(self, name)(*args)

    async def check(self, seen: dict[int, str]) -> dict[int, str]:
        """Wait for rest, then the invariants and the model; the statuses seen now."""
        await wait_until_at_rest(self.shop, self.me.id, duplicates_due=self.duplicates_due)
        problems = await broken_invariants(self.shop, self.me.id)
        statuses = {
            o: s
            for o, s in await rows(
                self.shop.stack, "SELECT id, status FROM orders WHERE user_id = :u", u=self.me.id
            )
        }
        problems += broken_moves(seen, statuses)
        assert not problems, "\n".join(problems)
        m = self.model
        assert statuses == {o.id: o.status for o in m.orders}
        cart = (await self.shop.http.get("/cart/", headers=self.me.headers)).json()
        assert [item["movie_uuid"] for item in cart["cart_items"]] == [
            self.films[i]["uuid"] for i in m.cart
        ]
        owned = await rows(
            self.shop.stack, "SELECT movie_id FROM purchases WHERE user_id = :u", u=self.me.id
        )
        assert sorted(movie for (movie,) in owned) == sorted(self.films[i]["id"] for i in m.owned())
        pages = await self.shop.stripe_get("/checkout/sessions", limit=100)
        at_stripe = {s["id"]: s["status"] for s in pages["data"]}
        for order in m.orders:
            for page in order.sessions if order.run_lost else ():
                # Not predicted; only never reopened.
                assert m.pages[page] in ("open", at_stripe[page]), (page, at_stripe[page])
                m.pages[page] = at_stripe[page]
        assert at_stripe == m.pages
        return statuses


LATE_PAYMENT_AFTER_CANCEL = (  # the run is lost, so the cancel cannot close Stripe's page
    ("add", 0), ("add", 1), ("order",), ("checkout", 0), ("lose_run",), ("cancel", 0),
    ("pay", "good", "once"), ("add", 0), ("order",), ("checkout", 0), ("pay", "good", "once"),
)  # fmt: skip
CANCEL_RACES_LATE_WEBHOOK = (  # no run asks Stripe first; then a page delivered twice
    ("add", 1), ("order",), ("checkout", 0), ("lose_run",), ("pay_then_cancel", "good"),
    ("add", 2), ("order",), ("checkout", 0), ("pay", "good", "twice"), ("refund", 0),
)  # fmt: skip
DELIVERED_TWICE_AND_REPLAYED = (
    ("add", 2), ("order",), ("checkout", 0), ("pay", "declined", "twice"),
    ("pay", "good", "twice"), ("add", 2), ("replay", 0), ("replay", 2), ("refund", 0),
    ("refund", 0), ("replay", 1), ("add", 2),
)  # fmt: skip
PAYMENT_WINS_OVER_CANCEL = (  # the webhooks are late; the run asks Stripe before cancelling
    ("add", 0), ("order",), ("checkout", 0), ("pay_then_cancel", "good"), ("refund", 0),
    ("add", 1), ("order",), ("checkout", 0), ("expire",), ("checkout", 0),
    ("pay_then_cancel", "declined"), ("refund", 1),
)  # fmt: skip
SECOND_PAGE_PAID = (  # a lost run: the next checkout hands out its page again, not a second
    ("add", 0), ("order",), ("checkout", 0), ("lose_run",), ("checkout", 0),
    ("pay", "good", "once"), ("pay_older",), ("refund", 0),
)  # fmt: skip
EXPIRED_PAGE_REPLACED = (
    ("add", 1), ("order",), ("checkout", 0), ("expire",), ("pay", "good", "once"),
    ("checkout", 0), ("pay", "good", "once"), ("cancel", 0), ("checkout", 0),
)  # fmt: skip


@pytest.mark.timeout(600)
@settings(
    # No shrinking: each try replays a story against the real stack (seconds), and the failing
    # story is printed step by step with its (steps, seed) to replay it as an @example.
    phases=[Phase.explicit, Phase.generate],
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.integers(6, 12), seed=st.integers(0, 2**32 - 1), script=st.just(()))
# Written stories that always run first, so every run covers the paths that matter most.
@example(steps=0, seed=0, script=LATE_PAYMENT_AFTER_CANCEL)
@example(steps=0, seed=0, script=CANCEL_RACES_LATE_WEBHOOK)
@example(steps=0, seed=0, script=DELIVERED_TWICE_AND_REPLAYED)
@example(steps=0, seed=0, script=PAYMENT_WINS_OVER_CANCEL)
@example(steps=0, seed=0, script=EXPIRED_PAGE_REPLACED)
async def test_money_invariants_hold_after_every_step(
    client: TestClientProtocol,
    stack: Stack,
    shop: Shop,
    steps: int,
    seed: int,
    script: tuple[tuple[Any, ...], ...],
) -> None:
    # A plain Random from Hypothesis' seed: its choices are uniform (Hypothesis' own draws lean
    # to the edges, and rarely got to a payment); an example replays from (steps, seed).
    if not script:
        note(f"replay it with @example(steps={steps}, seed={seed}, script=())")
    await play(client, stack, shop, script or [None] * steps, Random(seed))


async def play(
    client: TestClientProtocol,
    stack: Stack,
    shop: Shop,
    script: Sequence[tuple[Any, ...] | None],
    rnd: Random,
    *,
    checkout_after_lost_run: bool = LOST_RUN_CHECKOUT_FIXED,
) -> None:
    """Play the story (None: a step drawn from `rnd`), checking everything after each step."""
    await shop.reset_emulator(webhook_url=f"{shop.url}/payments/webhook/")
    run = Run(shop, await buyer(client, stack), await movies(client, stack, *PRICES))
    run.checkout_after_lost_run = checkout_after_lost_run
    seen: dict[int, str] = {}
    for number, written in enumerate(script, 1):
        action = written or next_step(run.model, rnd)
        note(f"step {number}: {action}")  # printed with a failing example
        event(f"took a step {action[0]}")
        await run.step(action)
        seen = await run.check(seen)
        for status in set(seen.values()):
            event(f"an order was {status}")  # --hypothesis-show-statistics: what was reached
    if run.duplicates_due:
        event("a webhook was delivered twice")
    unapplied = await rows(
        stack, "SELECT id FROM payments WHERE user_id = :u AND NOT applied", u=run.me.id
    )
    if unapplied:
        event("a payment was recorded unapplied")


async def test_a_lost_checkout_run_does_not_block_the_order(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    await play(client, stack, shop, SECOND_PAGE_PAID, Random(0), checkout_after_lost_run=True)
