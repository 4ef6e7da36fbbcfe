"""`GET /orders/{id}/?wait=N`: the buyer's page waits for its order to change instead of polling.

The waits here are long (20 s) and the re-read safety net is pushed past them, so a request
can only come back early with the new state if Postgres's notification woke it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from quart.typing import TestClientProtocol
from sqlalchemy import text
from sqlalchemy.engine import make_url

import api.order_watch as order_watch
from tests.commerce.support import (
    Buyer,
    Shop,
    buyer,
    eventually,
    movies,
    pending_order,
    rows,
)
from tests.conftest import Stack

LONG = order_watch.MAX_WAIT_SECONDS
DELAYED_CARD = "4000000000006009"  # a bank debit that later succeeds


@pytest.fixture(autouse=True)
def only_notifications_wake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(order_watch, "RECHECK_SECONDS", 600.0)
    monkeypatch.setattr(order_watch, "RECHECK_UNLISTENED_SECONDS", 600.0)


async def _wait(shop: Shop, who: Buyer, order_id: int, wait: Any = LONG) -> httpx.Response:
    return await shop.http.get(
        f"/orders/{order_id}/", params={"wait": wait}, headers=who.headers, timeout=60
    )


async def _waiting(shop: Shop, who: Buyer, order_id: int) -> asyncio.Task[httpx.Response]:
    """A wait in flight, registered (it asked Postgres to listen) before this returns."""
    task = asyncio.create_task(_wait(shop, who, order_id))
    await asyncio.sleep(1.0)
    assert not task.done(), "a pending order's wait answered at once"
    return task


async def _woken(waiting: asyncio.Task[httpx.Response]) -> dict[str, Any]:
    """The answer of a wait woken by the change just made: well before its 20 s ran out."""
    started = time.monotonic()
    answer = await waiting
    assert time.monotonic() - started < LONG - 5, "the wait ran out: nothing woke it"
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _order(client: TestClientProtocol, stack: Stack) -> tuple[Buyer, int]:
    me = await buyer(client, stack)
    return me, await pending_order(client, me, await movies(client, stack, "3.00"))


async def test_a_wait_answers_paid_as_soon_as_the_payment_is_recorded(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me, order_id = await _order(client, stack)
    page = await shop.checkout_ok(me, order_id)
    waiting = await _waiting(shop, me, order_id)
    assert (await shop.pay(page["session_id"])).status_code == 200

    answer = await _woken(waiting)
    assert answer["status"] == "paid"
    assert answer["payment"] is not None


async def test_a_wait_answers_when_the_buyer_cancels_in_another_tab(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me, order_id = await _order(client, stack)
    waiting = await _waiting(shop, me, order_id)
    cancelled = await shop.http.post(f"/orders/cancel/{order_id}/", headers=me.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert (await _woken(waiting))["status"] == "cancelled"


async def test_a_wait_on_an_unchanged_order_answers_it_after_the_wait(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me, order_id = await _order(client, stack)
    started = time.monotonic()
    answer = await _wait(shop, me, order_id, wait=1)
    assert answer.status_code == 200 and answer.json()["status"] == "pending"
    assert time.monotonic() - started >= 1.0


async def test_a_settled_order_answers_at_once_and_no_wait_is_the_default(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me, order_id = await _order(client, stack)
    started = time.monotonic()
    plain = await shop.http.get(f"/orders/{order_id}/", headers=me.headers)
    assert plain.status_code == 200 and plain.json()["status"] == "pending"
    await shop.http.post(f"/orders/cancel/{order_id}/", headers=me.headers)
    answer = await _wait(shop, me, order_id)
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert time.monotonic() - started < 10


async def test_another_users_order_is_404_without_waiting(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    _, order_id = await _order(client, stack)
    stranger = await buyer(client, stack)
    started = time.monotonic()
    answer = await _wait(shop, stranger, order_id)
    assert answer.status_code == 404 and answer.json()["error"] == "order_not_found"
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("wait", ["-1", str(LONG + 1), "soon", "1.5", ""])
async def test_a_bad_wait_is_422(
    client: TestClientProtocol, stack: Stack, shop: Shop, wait: str
) -> None:
    me, order_id = await _order(client, stack)
    answer = await _wait(shop, me, order_id, wait=wait)
    assert answer.status_code == 422, answer.text


async def test_waits_past_the_per_user_cap_answer_at_once(
    client: TestClientProtocol, stack: Stack, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(order_watch, "MAX_WAITERS_PER_USER", 1)
    me, order_id = await _order(client, stack)
    first = await _waiting(shop, me, order_id)
    started = time.monotonic()
    second = await _wait(shop, me, order_id)
    assert second.status_code == 200 and second.json()["status"] == "pending"
    assert time.monotonic() - started < 10
    assert not first.done()
    await shop.http.post(f"/orders/cancel/{order_id}/", headers=me.headers)
    assert (await _woken(first))["status"] == "cancelled"


async def test_a_lost_listening_connection_is_reopened_and_changes_still_wake(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me, order_id = await _order(client, stack)
    waiting = await _waiting(shop, me, order_id)
    killed = await rows(
        stack,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    assert killed and all(row[0] for row in killed)

    async def reopened() -> bool:  # the waiter re-reads, and the connection is reopened
        listening = await rows(
            stack,
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        assert len(listening) <= 1
        return len(listening) == 1

    # Polled, not a fixed 2 s: on a slow, busy machine the reconnect can take longer (CI once).
    await eventually(reopened, timeout=15, what="the LISTEN connection reopened")
    assert not waiting.done()
    await shop.http.post(f"/orders/cancel/{order_id}/", headers=me.headers)
    assert (await _woken(waiting))["status"] == "cancelled"


async def test_a_wait_answers_when_a_delayed_payment_gets_under_way(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    """A bank debit completes the page unpaid: the order stays pending, and the buyer's page is
    told the money is on its way."""
    me, order_id = await _order(client, stack)
    page = await shop.checkout_ok(me, order_id)
    waiting = await _waiting(shop, me, order_id)
    paid = await shop.pay(page["session_id"], DELAYED_CARD)
    assert paid.status_code == 200 and paid.json()["session"]["payment_status"] == "unpaid"
    answer = await _woken(waiting)
    assert answer["status"] == "pending"
    assert answer["checkout"]["payment_processing"] is True


async def test_a_wait_given_up_by_its_client_leaves_no_waiter_behind(stack: Stack) -> None:
    """A client that disconnects cancels its request: the wait's place and count are freed."""
    watcher = order_watch.OrderWatcher(stack.settings.database_url)
    reads = 0

    async def read() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"status": "pending", "checkout": None}

    try:
        waits = [asyncio.create_task(watcher.read_when_changed(7, 1, read, LONG)) for _ in range(3)]
        await asyncio.sleep(0.5)
        assert reads >= 3 and all(not w.done() for w in waits)  # (+3 re-reads once listening)
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        assert watcher._count == 0 and not watcher._waiters and not watcher._per_user
    finally:
        await watcher.close()


async def test_a_database_url_naming_a_unix_socket_is_listened_on_too(stack: Stack) -> None:
    """`?host=/socket/dir` is how a URL names Postgres's Unix socket (the engine connects so):
    the listening connection must take the same way, or every wait falls back to re-reads."""
    found = await rows(stack, "SELECT current_setting('unix_socket_directories')")
    socket_dir = next((d.strip() for d in found[0][0].split(",") if d.strip().startswith("/")), "")
    if not socket_dir:
        pytest.skip("this Postgres listens on no Unix socket")
    tcp = make_url(stack.settings.database_url)
    url = tcp.set(host="", query={"host": socket_dir}).render_as_string(hide_password=False)
    watcher = order_watch.OrderWatcher(url)
    changed = False

    async def read() -> dict[str, Any]:
        return {"status": "paid" if changed else "pending", "checkout": None}

    try:
        waiting = asyncio.create_task(watcher.read_when_changed(987_654, 1, read, LONG))

        async def listening_on_the_socket() -> bool:
            # A Unix-socket client has no address in pg_stat_activity.
            found = await rows(
                stack,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND query LIKE 'LISTEN%' AND client_addr IS NULL",
            )
            return watcher.listening and found[0][0] >= 1

        await eventually(listening_on_the_socket, timeout=10, what="listening on the socket")
        # Once listening, the watcher wakes its waiters to re-read (spread over a second):
        # let that pass, so only the notification below can wake this one.
        await asyncio.sleep(1.5)
        assert not waiting.done()
        changed = True
        async with stack.sessions() as session:  # NOTIFY goes out at commit
            await session.execute(text("SELECT pg_notify('order_changed', '987654')"))
            await session.commit()
        started = time.monotonic()
        answer = await asyncio.wait_for(waiting, timeout=LONG)
        assert time.monotonic() - started < 5, "only the wait's end answered"
        assert answer["status"] == "paid"
    finally:
        await watcher.close()


async def test_a_database_url_with_the_adapters_own_options_is_listened_on_too(
    stack: Stack,
) -> None:
    """`?prepared_statement_cache_size=0` (the usual setting behind PgBouncer) is for
    SQLAlchemy's adapter, not asyncpg.connect: the listening connection must leave it out."""
    url = make_url(stack.settings.database_url).update_query_dict(
        {"prepared_statement_cache_size": "0"}
    )
    watcher = order_watch.OrderWatcher(url.render_as_string(hide_password=False))
    try:
        watcher._start_listening()

        async def listening() -> bool:
            return watcher.listening

        await eventually(listening, timeout=10, what="the watcher listening")
    finally:
        await watcher.close()
