"""What the journey tests share: a buyer and a moderator who use the shop over HTTP, and the
buyer's steps as the API answers them (cart, order, checkout, order detail)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quart.typing import TestClientProtocol

from domain.models import UserGroup
from tests.api.catalog_support import account, movie_body
from tests.commerce.support import Shop, eventually
from tests.conftest import Stack
from tests.support import bearer, login


@dataclass
class Person:
    email: str
    headers: dict[str, str]


async def person(client: TestClientProtocol, stack: Stack, group: UserGroup) -> Person:
    """Registered and activated through the accounts endpoints (mail link), then logged in."""
    email = await account(client, stack, group)
    return Person(email, bearer((await login(client, email))["access_token"]))


async def call(shop: Shop, who: Person, method: str, path: str, status: int, **kw: Any) -> Any:
    """One request as `who`; it must answer `status`. The JSON body."""
    response = await shop.http.request(method, path, headers=who.headers, **kw)
    assert response.status_code == status, f"{method} {path}: {response.text}"
    return response.json()


async def new_movie(shop: Shop, moderator: Person, price: str) -> dict[str, Any]:
    return dict(
        await call(shop, moderator, "POST", "/movies/create/", 201, json=movie_body(price=price))
    )


async def set_price(shop: Shop, moderator: Person, movie_uuid: str, price: str) -> None:
    changed = await call(
        shop, moderator, "PATCH", f"/movies/{movie_uuid}/", 200, json={"price": price}
    )
    assert changed["price"] == price


async def order_of(shop: Shop, me: Person, *movie_uuids: str) -> dict[str, Any]:
    """Add the movies to the cart, then make the order (201)."""
    for movie_uuid in movie_uuids:
        await call(shop, me, "POST", "/cart/add/", 201, json={"movie_uuid": movie_uuid})
    return dict(await call(shop, me, "POST", "/orders/create/", 201))


async def checkout_url(shop: Shop, me: Person, order_id: int) -> dict[str, Any]:
    return dict(await call(shop, me, "POST", f"/orders/{order_id}/checkout/", 200))


async def order(shop: Shop, me: Person, order_id: int) -> dict[str, Any]:
    return dict(await call(shop, me, "GET", f"/orders/{order_id}/", 200))


async def order_becomes(
    shop: Shop, me: Person, order_id: int, status: str, timeout: float = 30
) -> dict[str, Any]:
    """GET /orders/{id}/ until it shows `status`; that detail."""

    async def check() -> dict[str, Any] | None:
        detail = await order(shop, me, order_id)
        return detail if detail["status"] == status else None

    found: dict[str, Any] = await eventually(
        check, timeout=timeout, what=f"order {order_id} {status}"
    )
    return found


async def owned(shop: Shop, me: Person) -> dict[str, str]:
    """GET /purchases/: movie uuid -> price paid."""
    body = await call(shop, me, "GET", "/purchases/", 200)
    return {p["movie_uuid"]: p["price"] for p in body["purchases"]}
