"""The cart through HTTP: what a buyer sees, each refusal with its own code, and a race between
two adds of one movie ending in 201 + 409, never 500."""

from __future__ import annotations

import asyncio
import uuid

from tests.api.commerce_support import (
    add_to_cart,
    buyer,
    create_order,
    get_cart,
    order_of,
    priced_movie,
    record_payment,
)


async def error_of(response) -> tuple[int, str | None]:
    return response.status_code, (await response.get_json()).get("error")


async def test_a_new_user_has_an_empty_cart(client, stack) -> None:
    shopper = await buyer(client, stack)
    assert await get_cart(client, shopper) == {"cart_items": [], "total": "0.00", "currency": "usd"}


async def test_add_list_remove_clear(client, stack, moderator) -> None:
    shopper = await buyer(client, stack)
    first = await priced_movie(client, moderator, "4.99")
    second = await priced_movie(client, moderator, "10.01")

    item = await add_to_cart(client, shopper, second["uuid"])
    assert (item["movie_uuid"], item["movie_name"], item["price"]) == (
        second["uuid"],
        second["name"],
        "10.01",
    )
    assert item["added_at"].endswith("Z")
    await add_to_cart(client, shopper, first["uuid"])

    cart = await get_cart(client, shopper)
    assert [i["movie_uuid"] for i in cart["cart_items"]] == [second["uuid"], first["uuid"]]
    assert cart["cart_items"][0] == item
    assert (cart["total"], cart["currency"]) == ("15.00", "usd")

    response = await client.delete(f"/cart/items/{second['uuid']}/", headers=shopper.headers)
    body = await response.get_json()
    assert response.status_code == 200, body
    assert ([i["movie_uuid"] for i in body["cart_items"]], body["total"]) == (
        [first["uuid"]],
        "4.99",
    )
    response = await client.delete(f"/cart/items/{second['uuid']}/", headers=shopper.headers)
    assert await error_of(response) == (404, "movie_not_in_cart")

    for _ in range(2):  # emptying an empty cart is fine too
        response = await client.delete("/cart/items/", headers=shopper.headers)
        assert response.status_code == 200
        assert (await response.get_json())["cart_items"] == []
    assert (await get_cart(client, shopper))["cart_items"] == []


async def test_the_cart_shows_todays_price(client, stack, moderator) -> None:
    shopper = await buyer(client, stack)
    movie = await priced_movie(client, moderator, "3.00")
    await add_to_cart(client, shopper, movie["uuid"])
    response = await client.patch(
        f"/movies/{movie['uuid']}/", json={"price": "3.50"}, headers=moderator
    )
    assert response.status_code == 200
    cart = await get_cart(client, shopper)
    assert (cart["cart_items"][0]["price"], cart["total"]) == ("3.50", "3.50")


async def test_each_refusal_has_its_own_code(client, stack, moderator) -> None:
    shopper = await buyer(client, stack)
    movie = await priced_movie(client, moderator)

    async def add(movie_uuid: str):
        return await client.post(
            "/cart/add/", json={"movie_uuid": movie_uuid}, headers=shopper.headers
        )

    assert await error_of(await add(str(uuid.uuid4()))) == (404, "movie_not_found")
    await add_to_cart(client, shopper, movie["uuid"])
    assert await error_of(await add(movie["uuid"])) == (409, "movie_already_in_cart")

    order = await create_order(client, shopper)
    assert await error_of(await add(movie["uuid"])) == (409, "movie_in_pending_order")

    await record_payment(stack, order["id"])
    assert await error_of(await add(movie["uuid"])) == (409, "movie_already_purchased")
    assert (await get_cart(client, shopper))["cart_items"] == []


async def test_an_archived_movie_cannot_be_added(client, stack, moderator) -> None:
    movie = await priced_movie(client, moderator)
    await order_of(client, await buyer(client, stack), movie["uuid"])  # keeps it in history
    response = await client.delete(f"/movies/{movie['uuid']}/", headers=moderator)
    assert (await response.get_json())["outcome"] == "archived"
    shopper = await buyer(client, stack)
    response = await client.post(
        "/cart/add/", json={"movie_uuid": movie["uuid"]}, headers=shopper.headers
    )
    assert await error_of(response) == (404, "movie_not_found")


async def concurrent_adds(client, shopper, movie_uuid: str) -> list[tuple[int, str | None]]:
    responses = await asyncio.gather(
        *(
            client.post("/cart/add/", json={"movie_uuid": movie_uuid}, headers=shopper.headers)
            for _ in range(2)
        )
    )
    return sorted([await error_of(r) if r.status_code != 201 else (201, "") for r in responses])


async def test_two_concurrent_adds_of_one_movie(client, stack, moderator) -> None:
    """Both with the cart already there (the adds really overlap) and for a user's very first
    add (both create the cart at once)."""
    shopper = await buyer(client, stack)
    movies = [(await priced_movie(client, moderator))["uuid"] for _ in range(4)]
    assert await concurrent_adds(client, shopper, movies[0]) == [
        (201, ""),
        (409, "movie_already_in_cart"),
    ]
    for movie_uuid in movies[1:]:
        assert await concurrent_adds(client, shopper, movie_uuid) == [
            (201, ""),
            (409, "movie_already_in_cart"),
        ]
    cart = await get_cart(client, shopper)
    assert [i["movie_uuid"] for i in cart["cart_items"]] == movies


async def test_bad_input_is_a_4xx_json_error(client, stack) -> None:
    shopper = await buyer(client, stack)
    for body in ({"movie_uuid": "not-a-uuid"}, {}, {"movie_uuid": str(uuid.uuid4()), "x": 1}):
        response = await client.post("/cart/add/", json=body, headers=shopper.headers)
        assert await error_of(response) == (422, "validation_error"), body
    response = await client.post("/cart/add/", data="nope", headers=shopper.headers)
    assert response.status_code == 400
    response = await client.delete("/cart/items/not-a-uuid/", headers=shopper.headers)
    assert await error_of(response) == (404, "not_found")


async def test_every_route_needs_a_login(client) -> None:
    path = f"/cart/items/{uuid.uuid4()}/"
    for method, route in (
        ("GET", "/cart/"),
        ("POST", "/cart/add/"),
        ("DELETE", path),
        ("DELETE", "/cart/items/"),
    ):
        response = await client.open(route, method=method, json={"movie_uuid": str(uuid.uuid4())})
        assert await error_of(response) == (401, "not_authenticated"), route


async def test_an_add_racing_an_order_create_never_leaves_an_ordered_movie_in_the_cart(
    client, stack, moderator
) -> None:
    """The movie is in the cart while an order is being made from it and the buyer adds it
    again: whichever wins, the movie ends in the order or in the cart, never in both."""
    for _ in range(3):
        shopper = await buyer(client, stack)
        movie = (await priced_movie(client, moderator))["uuid"]
        await add_to_cart(client, shopper, movie)
        created, added = await asyncio.gather(
            client.post("/orders/create/", headers=shopper.headers),
            client.post("/cart/add/", json={"movie_uuid": movie}, headers=shopper.headers),
        )
        assert created.status_code == 201, await created.get_json()
        assert await error_of(added) in (
            (409, "movie_already_in_cart"),
            (409, "movie_in_pending_order"),
        )
        assert (await get_cart(client, shopper))["cart_items"] == []


async def test_an_add_made_while_an_order_is_being_created_waits_for_it(
    client, stack, moderator
) -> None:
    """The interleaving the race above hits only sometimes, forced: an order create has taken
    the movie out of the cart but not committed yet when the buyer adds the movie again. The
    add waits for the order and is refused; the movie is not back in the cart."""
    from domain.orders import service as orders

    shopper = await buyer(client, stack)
    movie = (await priced_movie(client, moderator))["uuid"]
    await add_to_cart(client, shopper, movie)
    async with stack.sessions() as session, session.begin():
        await orders.create_order(session, shopper.user_id, "usd")
        added = asyncio.create_task(
            client.post("/cart/add/", json={"movie_uuid": movie}, headers=shopper.headers)
        )
        await asyncio.sleep(0.5)
        assert not added.done()  # waiting for the order's transaction
    assert await error_of(await added) == (409, "movie_in_pending_order")
    assert (await get_cart(client, shopper))["cart_items"] == []
    listed = await (await client.get("/orders/", headers=shopper.headers)).get_json()
    assert [o["status"] for o in listed["orders"]] == ["pending"]
