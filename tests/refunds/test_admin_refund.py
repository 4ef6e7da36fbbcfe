"""POST /admin/orders/{id}/refund/ end to end (API, RefundWorkflow on a real worker, the
Stripe emulator), and GET /admin/orders/{id}/workflow/ showing the runs for support."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from quart.typing import TestClientProtocol
from sqlalchemy import select

from domain.db import transaction
from domain.models import Movie, Order, OrderStatus, UserGroup
from tests.api.catalog_support import caller
from tests.api.commerce_support import Buyer as CommerceBuyer
from tests.api.commerce_support import order_of, priced_movie
from tests.conftest import Stack
from tests.refunds.fixtures import Buyer, RefundEnv, buyer, moderator, refund_env
from tests.refunds.support import (
    new_movies,
    paid_order,
    post_refund,
    refund_count,
    refund_ids,
    snapshot,
)
from workflows.ids import refund_workflow_id
from workflows.refund_messages import RefundResult

__all__ = ["buyer", "moderator", "refund_env"]  # fixtures used by name


@pytest.fixture(scope="module")
async def admin(client: TestClientProtocol, stack: Stack) -> dict[str, str]:
    return await caller(client, stack, UserGroup.ADMIN)


async def settled(stack: Stack, refund_id: int) -> str:
    handle = stack.client.get_workflow_handle(
        refund_workflow_id(refund_id), result_type=RefundResult
    )
    return (await asyncio.wait_for(handle.result(), timeout=60)).status


async def uuids_of(stack: Stack, movie_ids: list[int]) -> list[str]:
    async with stack.sessions() as session:
        rows = await session.execute(select(Movie.id, Movie.uuid).where(Movie.id.in_(movie_ids)))
        by_id = {movie_id: str(movie_uuid) for movie_id, movie_uuid in rows.all()}
    return [by_id[m] for m in movie_ids]


async def test_admin_refunds_by_lines_then_the_rest_outside_the_buyer_window(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any,
    admin: dict[str, str],
) -> None:  # fmt: skip
    movies = await new_movies(client, stack, moderator, 3)
    paid = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies,
        prices=[Decimal("2.00"), Decimal("3.00"), Decimal("4.00")],
        paid_at=datetime.now(UTC) - timedelta(days=refund_env.settings.refund_window_days + 5),
    )  # fmt: skip
    api = refund_env.api
    # The buyer's window has closed; an admin may still refund.
    status, body = await post_refund(api, paid.order_id, buyer.headers)
    assert (status, body["error"]) == (409, "refund_window_closed"), body

    first_uuid = (await uuids_of(stack, movies[:1]))[0]
    status, body = await post_refund(
        api, paid.order_id, admin, as_admin=True, lines=[first_uuid, first_uuid]
    )
    assert status == 202, body
    first_id = body["refund_id"]
    assert (Decimal(body["amount"]), body["currency"]) == (Decimal("2.00"), "usd")
    assert await settled(stack, body["refund_id"]) == "succeeded"
    after = await snapshot(stack, paid)
    assert (after.order_status, after.payment_status) == ("paid", "partially_refunded")
    assert after.owned_movies == movies[1:]

    # The same line again: refused; a line of another order: unknown.
    status, again = await post_refund(
        api, paid.order_id, admin, as_admin=True, lines=[paid.order_item_ids[0]]
    )
    assert (status, again["error"]) == (409, "already_refunded"), again
    status, unknown = await post_refund(
        api, paid.order_id, admin, as_admin=True, lines=[paid.order_item_ids[0] + 10**6]
    )
    assert (status, unknown["error"]) == (422, "unknown_order_items"), unknown
    other = await new_movies(client, stack, moderator, 1)
    status, unknown = await post_refund(
        api, paid.order_id, admin, as_admin=True, lines=await uuids_of(stack, other)
    )
    assert (status, unknown["error"]) == (422, "unknown_order_items"), unknown

    # No lines: everything left.
    status, rest = await post_refund(api, paid.order_id, admin, as_admin=True)
    assert status == 202, rest
    assert Decimal(rest["amount"]) == Decimal("7.00")
    assert await settled(stack, rest["refund_id"]) == "succeeded"
    after = await snapshot(stack, paid)
    assert (after.order_status, after.refunded_amount) == ("refunded", Decimal("9.00"))
    assert after.owned_movies == []
    at_stripe = await refund_env.emulator.refunds_of(paid.payment_intent)
    assert sorted(r["amount"] for r in at_stripe) == [200, 700]  # never more than was paid
    status, body = await post_refund(api, paid.order_id, admin, as_admin=True)
    assert (status, body["error"]) == (409, "already_refunded")
    assert await refund_count(stack, paid.payment_id) == 2

    # Support sees the runs: no checkout run (this order was paid without one), two refunds.
    response = await api.get(f"/admin/orders/{paid.order_id}/workflow/", headers=admin)
    runs = await response.get_json()
    assert response.status_code == 200, runs
    assert runs["checkout"] is None
    assert [r["workflow_id"] for r in runs["refunds"]] == [
        refund_workflow_id(first_id),
        refund_workflow_id(rest["refund_id"]),
    ]
    for run in runs["refunds"]:
        assert run["status"] == "COMPLETED" and run["close_time"] is not None
        assert run["state"]["stripe_refund_id"].startswith("re_"), run["state"]
        assert run["ui_url"] == (
            f"http://127.0.0.1:8233/namespaces/{refund_env.settings.temporal_namespace}"
            f"/workflows/refund%3A{run['workflow_id'].split(':')[1]}/{run['run_id']}/history"
        )


async def test_refused_orders_and_bodies(
    stack: Stack, refund_env: RefundEnv, buyer: Buyer, admin: dict[str, str]
) -> None:
    async with transaction(stack.sessions) as session:
        pending = Order(
            user_id=buyer.user_id, status=OrderStatus.PENDING, total_amount=1, currency="usd"
        )
        cancelled = Order(
            user_id=buyer.user_id, status=OrderStatus.CANCELLED, total_amount=1, currency="usd"
        )
        session.add_all([pending, cancelled])
    api = refund_env.api
    status, body = await post_refund(api, pending.id, admin, as_admin=True)
    assert (status, body["error"]) == (409, "order_not_paid")
    status, body = await post_refund(api, cancelled.id, admin, as_admin=True)
    assert (status, body["error"], body["order_status"]) == (
        409,
        "order_not_refundable",
        "cancelled",
    )
    for order_id in (2**62, 2**70):
        status, body = await post_refund(api, order_id, admin, as_admin=True)
        assert (status, body["error"]) == (404, "order_not_found")
    bad: dict[str, Any]
    for bad in ({"lines": []}, {"lines": ["not-a-uuid"]}, {"lines": [1.5]}, {"other": 1}):
        status, body = await post_refund(api, pending.id, admin, as_admin=True, **bad)
        assert (status, body["error"]) == (422, "validation_error"), bad
    response = await api.get(f"/admin/orders/{2**62}/workflow/", headers=admin)
    assert response.status_code == 404


async def test_a_running_checkout_and_temporal_down(
    stack: Stack, refund_env: RefundEnv, buyer: Buyer, admin: dict[str, str],
    moderator: dict[str, str], client: Any,
) -> None:  # fmt: skip
    movie = await priced_movie(client, moderator)
    who = CommerceBuyer(buyer.headers, buyer.user_id)
    order = await order_of(client, who, movie["uuid"])
    api = refund_env.api
    response = await api.post("/payments/checkout-session/", json={}, headers=buyer.headers)
    assert response.status_code in (200, 201), await response.get_json()
    response = await api.get(f"/admin/orders/{order['id']}/workflow/", headers=admin)
    runs = await response.get_json()
    assert response.status_code == 200, runs
    checkout = runs["checkout"]
    assert (checkout["workflow_id"], checkout["status"]) == (f"checkout:{order['id']}", "RUNNING")
    assert checkout["state"]["order_id"] == order["id"] and checkout["state"]["sessions_made"] == 1
    assert checkout["run_id"] in checkout["ui_url"] and runs["refunds"] == []
    async with refund_env.api_with(stack, temporal_address="127.0.0.1:1") as dead:
        response = await dead.get(f"/admin/orders/{order['id']}/workflow/", headers=admin)
        body = await response.get_json()
        assert (response.status_code, body["error"]) == (503, "service_unavailable"), body


async def test_temporal_down_after_the_row_is_written_a_retry_resumes_the_same_refund(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any,
    admin: dict[str, str],
) -> None:  # fmt: skip
    movies = await new_movies(client, stack, moderator, 2)
    paid = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies,
        prices=[Decimal("3.00"), Decimal("5.00")],
    )  # fmt: skip
    lines = [paid.order_item_ids[1]]
    async with refund_env.api_with(stack, temporal_address="127.0.0.1:1") as dead:
        status, body = await post_refund(dead, paid.order_id, admin, as_admin=True, lines=lines)
        assert (status, body["error"]) == (503, "service_unavailable"), body
    assert (await snapshot(stack, paid)).refunds == [("requested", Decimal("5.00"), None)]
    [waiting] = await refund_ids(stack, paid.payment_id)
    # Other lines while it waits: a 409 naming it; the same request again: that refund, resumed.
    status, body = await post_refund(refund_env.api, paid.order_id, admin, as_admin=True)
    assert (status, body["error"], body.get("refund_id")) == (409, "refund_in_progress", waiting)
    status, body = await post_refund(
        refund_env.api, paid.order_id, admin, as_admin=True, lines=lines
    )
    assert (status, body["refund_id"]) == (202, waiting), body
    assert await settled(stack, body["refund_id"]) == "succeeded"
    assert await refund_count(stack, paid.payment_id) == 1
    assert (await snapshot(stack, paid)).owned_movies == movies[:1]
