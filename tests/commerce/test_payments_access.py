"""Who may do what: another user's order and payments are a 404 on every route; bad input is
a 4xx that says what is wrong."""

from __future__ import annotations

from quart.typing import TestClientProtocol

from tests.commerce.support import (
    Shop,
    buyer,
    movies,
    order_status_becomes,
    pending_order,
)
from tests.conftest import Stack


async def test_another_users_order_and_payments_are_not_found(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    owner, intruder = await buyer(client, stack), await buyer(client, stack)
    films = await movies(client, stack, "5.00")
    paid_order = await pending_order(client, owner, films)
    session_id = (await shop.checkout_ok(owner, paid_order))["session_id"]
    assert (await shop.pay(session_id)).status_code == 200
    await order_status_becomes(stack, paid_order, "paid")
    order_id = await pending_order(client, owner, await movies(client, stack, "6.00"))

    for path in (f"/orders/{order_id}/checkout/", f"/orders/cancel/{order_id}/"):
        response = await shop.http.post(path, headers=intruder.headers)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"] == "order_not_found"
    response = await shop.http.post(
        "/payments/checkout-session/", json={"order_id": order_id}, headers=intruder.headers
    )
    assert response.status_code == 404 and response.json()["error"] == "order_not_found"
    listed = (await shop.http.get("/payments/", headers=intruder.headers)).json()
    assert listed["payments"] == [] and listed["total_items"] == 0
    # The intruder has no pending order of their own.
    response = await shop.http.post("/payments/checkout-session/", headers=intruder.headers)
    assert response.status_code == 404 and response.json()["error"] == "no_pending_order"
    # Nothing was started or changed for the owner's order.
    assert (await shop.stripe_get("/checkout/sessions"))["data"][0]["id"] == session_id
    assert len((await shop.stripe_get("/checkout/sessions"))["data"]) == 1
    owners = (await shop.http.get("/payments/", headers=owner.headers)).json()
    assert [p["order_id"] for p in owners["payments"]] == [paid_order]


async def test_bad_input_and_anonymous_calls_are_clear_4xx(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    for path in ("/orders/1/checkout/", "/orders/cancel/1/", "/payments/checkout-session/"):
        assert (await shop.http.post(path)).status_code == 401
    assert (await shop.http.get("/payments/")).status_code == 401
    huge = "/orders/99999999999999999999/checkout/"
    assert (await shop.http.post(huge, headers=me.headers)).status_code == 404
    for body in ('{"order_id": "x"}', '{"order_id": 0}', '{"other": 1}', "[1]"):
        response = await shop.http.post(
            "/payments/checkout-session/",
            content=body,
            headers={**me.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"] == "validation_error"
    response = await shop.http.post(
        "/payments/checkout-session/",
        content="{nope",
        headers={**me.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    for query in ({"session_id": "cs_unknown"}, {}):
        response = await shop.http.get("/payments/success/", params=query)
        assert response.status_code == (404 if query else 422), response.text
    assert (await shop.http.get("/payments/cancel/", params={"order_id": "x"})).status_code == 422
    missing = await shop.http.get("/payments/cancel/", params={"order_id": 987654321})
    assert missing.status_code == 404
    pages = await shop.http.get("/payments/", params={"per_page": 0}, headers=me.headers)
    assert pages.status_code == 422
