"""The buyer's whole journey through the real endpoints: register, fill the cart, order, pay
on Stripe, get the receipt, own the movies, ask for the money back, buy again. Every check is
what the buyer (or Stripe, for what it charged) sees."""

from __future__ import annotations

from decimal import Decimal

from quart.typing import TestClientProtocol

from domain.models import UserGroup
from tests.commerce.conftest import open_shop
from tests.commerce.journey_support import (
    call,
    checkout_url,
    new_movie,
    order,
    order_becomes,
    order_of,
    owned,
    person,
    set_price,
)
from tests.conftest import Stack, StripeEmulator
from tests.support import html_of, text_of, wait_for_mail
from workflows.ids import refund_workflow_id
from workflows.refund import RefundWorkflow
from workflows.refund_messages import RefundProgress, RefundResult

# Far longer than the test: a refund that settles can only have heard it from the webhook.
NO_POLLING = 3600


async def test_buy_two_movies_pay_get_receipt_refund_and_buy_again(
    client: TestClientProtocol, stack: Stack, stripe_emulator: StripeEmulator
) -> None:
    async with open_shop(stack, stripe_emulator, refund_poll_interval_seconds=NO_POLLING) as shop:
        me = await person(client, stack, UserGroup.USER)
        moderator = await person(client, stack, UserGroup.MODERATOR)
        first = await new_movie(shop, moderator, "9.99")
        second = await new_movie(shop, moderator, "4.50")

        for movie in (first, second):
            await call(shop, me, "POST", "/cart/add/", 201, json={"movie_uuid": movie["uuid"]})
        cart = await call(shop, me, "GET", "/cart/", 200)
        assert [i["movie_uuid"] for i in cart["cart_items"]] == [first["uuid"], second["uuid"]]
        assert (cart["total"], cart["currency"]) == ("14.49", "usd")

        made = await call(shop, me, "POST", "/orders/create/", 201)
        order_id = made["id"]
        assert (made["status"], made["total_amount"]) == ("pending", "14.49")
        assert {i["movie_uuid"]: i["price"] for i in made["items"]} == {
            first["uuid"]: "9.99",
            second["uuid"]: "4.50",
        }
        cart = await call(shop, me, "GET", "/cart/", 200)
        assert (cart["cart_items"], cart["total"]) == ([], "0.00")

        checkout = await checkout_url(shop, me, order_id)
        assert checkout["checkout_url"].startswith(shop.emulator.url)
        paid = await shop.pay(checkout["session_id"])  # the buyer pays on Stripe's page
        assert paid.status_code == 200, paid.text

        detail = await order_becomes(shop, me, order_id, "paid")
        assert detail["paid_at"] is not None
        assert detail["payment"]["amount"] == "14.49"
        assert detail["payment"]["status"] == "successful"
        assert detail["checkout"]["session_id"] == checkout["session_id"]
        assert await owned(shop, me) == {first["uuid"]: "9.99", second["uuid"]: "4.50"}
        payments = await call(shop, me, "GET", "/payments/", 200)
        [payment] = payments["payments"]
        assert (payment["order_id"], payment["amount"], payment["status"]) == (
            order_id,
            "14.49",
            "successful",
        )
        assert payment["id"] == detail["payment"]["id"]
        landing = await shop.http.get(
            "/payments/success/", params={"session_id": checkout["session_id"]}
        )
        assert landing.json()["status"] == "paid" and landing.json()["order_id"] == order_id

        [receipt] = await wait_for_mail(stack.mail, me.email, "receipt")
        for part in (text_of(receipt), html_of(receipt)):
            assert first["name"] in part and second["name"] in part
            assert "9.99" in part and "4.50" in part and "14.49" in part
            assert f"{shop.settings.public_base_url.rstrip('/')}/orders/{order_id}/" in part

        # The money back.
        refund = await call(shop, me, "POST", f"/orders/refund/{order_id}/", 202)
        assert (refund["amount"], refund["currency"]) == ("14.49", "usd")
        detail = await order_becomes(shop, me, order_id, "refunded")
        handle = stack.client.get_workflow_handle(
            refund_workflow_id(refund["refund_id"]), result_type=RefundResult
        )
        assert (await handle.result()).status == "succeeded"
        progress = await handle.query(RefundWorkflow.status)
        assert isinstance(progress, RefundProgress)
        # Stripe's refund events came by webhook and settled it: it never asked Stripe.
        assert progress.events_seen >= 1 and progress.polls == 0
        assert detail["payment"]["status"] == "refunded"
        assert detail["payment"]["refunded_amount"] == "14.49"
        assert [(r["amount"], r["status"]) for r in detail["refunds"]] == [("14.49", "succeeded")]
        assert await owned(shop, me) == {}
        [payment] = (await call(shop, me, "GET", "/payments/", 200))["payments"]
        assert (payment["status"], payment["refunded_amount"]) == ("refunded", "14.49")
        assert [(r["amount"], r["status"]) for r in payment["refunds"]] == [("14.49", "succeeded")]
        [mail] = await wait_for_mail(stack.mail, me.email, "refund is done")
        assert "14.49" in text_of(mail) and "14.49" in html_of(mail)

        again = await call(shop, me, "POST", f"/orders/refund/{order_id}/", 409)
        assert again["error"] == "already_refunded"

        # Refunded movies are for sale to them again.
        rebuy = await order_of(shop, me, first["uuid"])
        assert rebuy["total_amount"] == "9.99"
        session_id = (await checkout_url(shop, me, rebuy["id"]))["session_id"]
        assert (await shop.pay(session_id)).status_code == 200
        await order_becomes(shop, me, rebuy["id"], "paid")
        assert await owned(shop, me) == {first["uuid"]: "9.99"}
        assert (await order(shop, me, order_id))["status"] == "refunded"  # history stays


async def test_a_price_change_after_the_order_charges_the_order_snapshot(
    client: TestClientProtocol, stack: Stack, stripe_emulator: StripeEmulator
) -> None:
    """W21: one price per purchase, the one the order showed, whatever the catalogue says by
    the time the buyer opens Stripe's page or pays."""
    async with open_shop(stack, stripe_emulator) as shop:
        me = await person(client, stack, UserGroup.USER)
        moderator = await person(client, stack, UserGroup.MODERATOR)
        movie = await new_movie(shop, moderator, "9.99")
        made = await order_of(shop, me, movie["uuid"])
        assert made["total_amount"] == "9.99"

        await set_price(shop, moderator, movie["uuid"], "12.00")
        checkout = await checkout_url(shop, me, made["id"])
        session = await shop.stripe_get(f"/checkout/sessions/{checkout['session_id']}")
        assert session["amount_total"] == 999  # Stripe was asked for the snapshot

        await set_price(shop, moderator, movie["uuid"], "15.00")
        assert (await shop.pay(checkout["session_id"])).status_code == 200
        detail = await order_becomes(shop, me, made["id"], "paid")

        # One price everywhere: the order total, what Stripe charged, the payment, the purchase.
        assert detail["total_amount"] == "9.99"
        assert [i["price"] for i in detail["items"]] == ["9.99"]
        assert detail["payment"]["amount"] == detail["total_amount"]
        intent = await shop.stripe_get(
            f"/checkout/sessions/{checkout['session_id']}", **{"expand[]": "payment_intent"}
        )
        charged = intent["payment_intent"]["amount_received"]
        assert Decimal(charged) / 100 == Decimal(detail["payment"]["amount"])
        assert await owned(shop, me) == {movie["uuid"]: "9.99"}
        [receipt] = await wait_for_mail(stack.mail, me.email, "receipt")
        assert "9.99" in text_of(receipt)
        assert "12.00" not in text_of(receipt) and "15.00" not in text_of(receipt)
        # The catalogue moved on meanwhile.
        assert (await shop.http.get(f"/movies/{movie['uuid']}/")).json()["price"] == "15.00"
