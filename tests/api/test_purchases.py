"""GET /purchases/: the movies the caller owns, newest first, with what was paid and when.
Payments are another area's job: `record_payment` writes what a completed checkout leaves."""

from __future__ import annotations

from tests.api.commerce_support import buyer, order_of, priced_movie, record_payment


async def test_owned_movies_newest_first_with_the_price_paid(client, stack, moderator) -> None:
    shopper, other = await buyer(client, stack), await buyer(client, stack)
    first, second, third = [
        await priced_movie(client, moderator, p) for p in ("1.00", "2.00", "3.00")
    ]
    older = await order_of(client, shopper, first["uuid"], second["uuid"])
    await record_payment(stack, older["id"])
    newer = await order_of(client, shopper, third["uuid"])
    await record_payment(stack, newer["id"])
    await order_of(client, other, first["uuid"])  # pending: owns nothing yet
    # The price paid stays what it was.
    await client.patch(f"/movies/{first['uuid']}/", json={"price": "9.00"}, headers=moderator)

    pages = []
    for number in (1, 2):
        query = {"per_page": 2, "page": number}
        response = await client.get("/purchases/", headers=shopper.headers, query_string=query)
        pages.append(await response.get_json())
        assert response.status_code == 200, pages[-1]
    assert (pages[0]["total_items"], pages[0]["total_pages"]) == (3, 2)
    seen = [p for page in pages for p in page["purchases"]]
    # Newest order first; the two lines of one payment were bought at the same moment.
    assert [p["order_id"] for p in seen] == [newer["id"], older["id"], older["id"]]
    assert seen[0] == {
        "movie_uuid": third["uuid"],
        "movie_name": third["name"],
        "price": "3.00",
        "purchased_at": seen[0]["purchased_at"],
        "order_id": newer["id"],
    }
    assert sorted((p["movie_uuid"], p["price"]) for p in seen[1:]) == sorted(
        [(first["uuid"], "1.00"), (second["uuid"], "2.00")]
    )

    mine = await (await client.get("/purchases/", headers=other.headers)).get_json()
    assert (mine["purchases"], mine["total_items"]) == ([], 0)


async def test_purchases_need_a_login_and_valid_pages(client, stack) -> None:
    response = await client.get("/purchases/")
    assert (response.status_code, (await response.get_json())["error"]) == (
        401,
        "not_authenticated",
    )
    shopper = await buyer(client, stack)
    for query in ({"per_page": 0}, {"per_page": 101}, {"page": "x"}):
        response = await client.get("/purchases/", headers=shopper.headers, query_string=query)
        assert (response.status_code, (await response.get_json())["error"]) == (
            422,
            "validation_error",
        )
