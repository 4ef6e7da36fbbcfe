"""Admin lists through HTTP: users, carts, orders, payments and refunds with their filters,
newest first, paginated; bad filters are clear 422s; and no admin GET writes anything (W26)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from quart.typing import TestClientProtocol
from sqlalchemy import text

from tests.api.commerce_support import (
    Buyer,
    add_refund,
    add_to_cart,
    buyer,
    order_of,
    priced_movie,
    record_payment,
)
from tests.conftest import Stack
from tests.support import new_email, register, register_and_activate

TODAY = datetime.now(UTC).date()
TOMORROW, YESTERDAY = str(TODAY + timedelta(days=1)), str(TODAY - timedelta(days=1))


@dataclass
class Shop:
    a: Buyer
    a_email: str
    b: Buyer
    paid_order: int
    pending_order: int
    b_order: int
    cart_movie: str


async def email_of(client: TestClientProtocol, who: Buyer) -> str:
    return str((await (await client.get("/accounts/me/", headers=who.headers)).get_json())["email"])


@pytest.fixture(scope="module")
async def shop(client: TestClientProtocol, stack: Stack, moderator: dict[str, str]) -> Shop:
    a, b = await buyer(client, stack), await buyer(client, stack)
    movies = [(await priced_movie(client, moderator))["uuid"] for _ in range(4)]
    paid = await order_of(client, a, movies[0], movies[1])
    await record_payment(stack, paid["id"])
    await add_refund(stack, paid["id"], "4.99", "succeeded")
    pending = await order_of(client, a, movies[2])
    await add_to_cart(client, a, movies[3])
    b_order = await order_of(client, b, movies[0])
    return Shop(
        a, await email_of(client, a), b, paid["id"], pending["id"], b_order["id"], movies[3]
    )


async def get(client: TestClientProtocol, path: str, who: dict[str, str], **query: Any) -> Any:
    response = await client.get(path, query_string=query, headers=who)
    return response.status_code, await response.get_json()


async def test_users_filtered_newest_first(client: TestClientProtocol, stack: Stack, admin) -> None:
    tag = f"zz{uuid.uuid4().hex[:8]}"
    inactive = new_email(tag)
    await register(client, inactive)
    active = [new_email(tag), new_email(tag)]
    for email in active:
        await register_and_activate(client, stack.mail, email)
    status, body = await get(client, "/admin/users/", admin, email=tag.upper())
    assert status == 200, body
    assert [u["email"] for u in body["users"]] == [active[1], active[0], inactive]
    assert body["total_items"] == 3
    assert {u["group"] for u in body["users"]} == {"USER"}
    _, body = await get(client, "/admin/users/", admin, email=tag, is_active="true")
    assert [u["email"] for u in body["users"]] == active[::-1]
    _, body = await get(client, "/admin/users/", admin, email=tag, is_active="false", group="USER")
    assert [u["email"] for u in body["users"]] == [inactive]
    _, body = await get(client, "/admin/users/", admin, email=tag, group="ADMIN")
    assert body["users"] == []
    _, body = await get(client, "/admin/users/", admin, email=tag, joined_from=str(TODAY))
    assert body["total_items"] == 3  # a date is the whole day
    _, body = await get(client, "/admin/users/", admin, email=tag, joined_to=str(TODAY))
    assert body["total_items"] == 3
    for outside in ({"joined_from": TOMORROW}, {"joined_to": YESTERDAY}):
        _, body = await get(client, "/admin/users/", admin, email=tag, **outside)
        assert body["total_items"] == 0, outside
    # A prefix, never a substring or a pattern.
    for not_a_prefix in (tag[2:], "%", "_" + tag[1:]):
        _, body = await get(client, "/admin/users/", admin, email=not_a_prefix)
        assert body["total_items"] == 0, not_a_prefix
    _, body = await get(client, "/admin/users/", admin, email=tag, per_page=1, page=2)
    assert [u["email"] for u in body["users"]] == [active[0]]
    assert body["next_page"] == (f"http://cinema.test/admin/users/?email={tag}&page=3&per_page=1")
    # Every filter stays in the links, both ways.
    filters = {"email": tag, "group": "USER", "is_active": "true", "joined_from": str(TODAY)}
    users = await two_pages(client, admin, "/admin/users/", "users", filters)
    assert [u["email"] for u in users] == active[::-1]


def query_of(link: str | None, path: str) -> dict[str, list[str]]:
    assert link is not None
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "cinema.test", path), link
    return parse_qs(parts.query, keep_blank_values=True)


async def two_pages(
    client: TestClientProtocol, admin: dict[str, str], path: str, key: str, filters: dict[str, str]
) -> list[Any]:
    """A list filtered down to two rows, one a page: page 1's next link and page 2's prev link
    carry every filter (and following the next link gives page 2). Both pages' rows."""
    kept = {name: [value] for name, value in filters.items()}
    status, first = await get(client, path, admin, **filters, per_page=1)
    assert status == 200, first
    assert (first["total_items"], first["prev_page"]) == (2, None), first
    assert query_of(first["next_page"], path) == {**kept, "page": ["2"], "per_page": ["1"]}
    link = urlsplit(first["next_page"])
    response = await client.get(f"{link.path}?{link.query}", headers=admin)
    second = await response.get_json()
    assert (response.status_code, second["next_page"]) == (200, None), second
    assert query_of(second["prev_page"], path) == {**kept, "page": ["1"], "per_page": ["1"]}
    return [*first[key], *second[key]]


@pytest.mark.parametrize(
    "path, query",
    [
        ("/admin/users/", {"is_active": "maybe"}),
        ("/admin/users/", {"group": "ROOT"}),
        ("/admin/users/", {"joined_from": "2026-13-01"}),
        ("/admin/users/", {"joined_from": TOMORROW, "joined_to": YESTERDAY}),
        ("/admin/users/", {"per_page": "1000"}),
        ("/admin/users/", {"sort": "email"}),
        ("/admin/orders/", {"status": "lost"}),
        ("/admin/orders/", {"user_id": "0"}),
        ("/admin/orders/", {"user_id": str(2**63)}),
        ("/admin/orders/", {"created_from": "yesterday"}),
        ("/admin/orders/", {"created_from": "2026-11-26T25:00"}),
        ("/admin/payments/", {"status": "paid"}),
        ("/admin/refunds/", {"status": "done"}),
        ("/admin/refunds/", {"created_from": TOMORROW, "created_to": YESTERDAY}),
    ],
)
async def test_bad_filters_are_clear_422s(client: TestClientProtocol, admin, path, query) -> None:
    status, body = await get(client, path, admin, **query)
    assert (status, body["error"]) == (422, "validation_error"), body
    assert body["fields"], body


async def test_orders_payments_refunds_filtered(client: TestClientProtocol, admin, shop: Shop):
    a = shop.a.user_id
    status, body = await get(client, "/admin/orders/", admin, user_id=a)
    assert status == 200, body
    assert [o["id"] for o in body["orders"]] == [shop.pending_order, shop.paid_order]
    assert body["orders"][1] | {"created_at": None, "paid_at": None} == {
        "id": shop.paid_order,
        "user_id": a,
        "email": shop.a_email,
        "status": "paid",
        "total_amount": "9.98",
        "currency": "usd",
        "item_count": 2,
        "created_at": None,
        "paid_at": None,
        "cancelled_at": None,
        "cancel_reason": None,
    }
    _, body = await get(client, "/admin/orders/", admin, email=shop.a_email.upper(), status="paid")
    assert [o["id"] for o in body["orders"]] == [shop.paid_order]
    _, body = await get(client, "/admin/orders/", admin, email=shop.a_email[1:])
    assert body["orders"] == []  # an exact email, never a substring
    _, body = await get(client, "/admin/orders/", admin, user_id=a, created_from=str(TODAY))
    assert body["total_items"] == 2
    _, body = await get(client, "/admin/orders/", admin, user_id=a, created_to=YESTERDAY)
    assert body["total_items"] == 0
    _, body = await get(client, "/admin/orders/", admin, status="pending", per_page=100)
    ids = [o["id"] for o in body["orders"]]
    assert shop.b_order in ids and shop.pending_order in ids and shop.paid_order not in ids
    assert ids.index(shop.b_order) < ids.index(shop.pending_order)  # newest first

    _, body = await get(client, "/admin/payments/", admin, user_id=a)
    [payment] = body["payments"]
    assert (payment["order_id"], payment["amount"], payment["refunded_amount"]) == (
        shop.paid_order, "9.98", "4.99",
    )  # fmt: skip
    _, body = await get(client, "/admin/payments/", admin, user_id=shop.b.user_id)
    assert body["payments"] == []
    _, body = await get(client, "/admin/refunds/", admin, email=shop.a_email, status="succeeded")
    [refund] = body["refunds"]
    assert (refund["order_id"], refund["amount"], refund["user_id"]) == (shop.paid_order, "4.99", a)
    _, body = await get(client, "/admin/refunds/", admin, email=shop.a_email, status="failed")
    assert body["refunds"] == []


async def test_order_payment_and_refund_links_keep_the_filters(
    client: TestClientProtocol, stack: Stack, admin, moderator: dict[str, str]
) -> None:
    c = await buyer(client, stack)
    orders = []
    for _ in range(2):
        order = await order_of(client, c, (await priced_movie(client, moderator))["uuid"])
        await record_payment(stack, order["id"])
        await add_refund(stack, order["id"], "0.01", "succeeded")
        orders.append(order["id"])
    filters = {"email": await email_of(client, c), "created_from": str(TODAY)}
    for path, key, status in (
        ("/admin/orders/", "orders", "paid"),
        ("/admin/payments/", "payments", "successful"),
        ("/admin/refunds/", "refunds", "succeeded"),
    ):
        rows = await two_pages(
            client, admin, path, key, {**filters, "status": status, "created_to": str(TODAY)}
        )
        order_ids = [row["id"] if key == "orders" else row["order_id"] for row in rows]
        assert order_ids == orders[::-1], path  # newest first, across the two pages


async def test_any_users_cart(client: TestClientProtocol, admin, shop: Shop) -> None:
    status, body = await get(client, f"/admin/carts/{shop.a.user_id}/", admin)
    assert status == 200, body
    assert [i["movie_uuid"] for i in body["items"]] == [shop.cart_movie]
    status, body = await get(client, f"/admin/carts/{shop.b.user_id}/", admin)
    assert (status, body["items"]) == (200, [])  # the cart was emptied into the order
    for missing in (10**12, 2**63):
        status, body = await get(client, f"/admin/carts/{missing}/", admin)
        assert (status, body["error"]) == (404, "user_not_found")


TABLES = ("users", "carts", "cart_items", "orders", "order_items", "payments", "refunds")


ROWS_DIGEST = "SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {} t"


async def snapshot(stack: Stack) -> dict[str, str]:
    """A digest of every row of the tables an admin GET reads."""
    digests = {}
    async with stack.sessions() as session:
        for table in TABLES:
            digests[table] = (await session.execute(text(ROWS_DIGEST.format(table)))).scalar_one()
    return digests


async def test_admin_gets_change_nothing(
    client: TestClientProtocol, stack: Stack, admin, shop: Shop
) -> None:
    before = await snapshot(stack)
    for path in ("/admin/users/", "/admin/orders/", "/admin/payments/", "/admin/refunds/"):
        status, body = await get(client, path, admin, per_page=100)
        assert status == 200, body
    status, _ = await get(client, f"/admin/carts/{shop.a.user_id}/", admin)
    assert status == 200
    status, _ = await get(client, f"/admin/orders/{shop.paid_order}/workflow/", admin)
    assert status == 200
    assert await snapshot(stack) == before
