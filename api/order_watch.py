"""Waiting for an order to change without polling: `GET /orders/{id}/?wait=N`.

A buyer back from the payment page wants to see `paid` the moment the webhook is recorded.
Polling the order every fraction of a second costs a request, a query and an answer each time;
instead the request waits, holding no database connection, until Postgres says the order
changed.

Postgres sends `NOTIFY order_changed, '<order id>'` when an order's status changes or its
checkout's `payment_processing` does (triggers of migration 0008, sent at commit). Each API
process keeps one listening connection, opened at the first wait and reopened after it is lost,
and wakes the requests waiting on that order. A notification may be missed while that
connection is being opened, so a waiter also re-reads the order every few seconds (every second
while not listening): a lost connection makes the answer later, never wrong.

Waits are capped per process and per user; past a cap the request waits a second without
being woken and answers the order as it is then, so a client that asks again polls at most once
a second. Re-reads are spread (jittered, and a mass wake-up after a reconnect is staggered over
a second) so the waiters never all take a pool connection at once. The listening connection is
pinged every 30 s; one that died silently (a dropped TCP connection) is closed and reopened.
One Postgres connection per API process is held outside the pool for this; LISTEN needs a
session (a PgBouncer in transaction mode would leave the waits polling every second).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CHANNEL = "order_changed"
MAX_WAIT_SECONDS = 20  # under the usual 30 s proxy/read timeouts, and shutdown stays quick
RECHECK_SECONDS = 5.0  # a waiter re-reads this often while listening (a missed notification)
RECHECK_UNLISTENED_SECONDS = 1.0  # and this often while the listening connection is down
RECONNECT_DELAY_SECONDS = 1.0  # at most one connection attempt per this many seconds
OVER_CAP_DELAY_SECONDS = 1.0  # past a cap: answer after this, so asking again is slow polling
CONNECT_TIMEOUT_SECONDS = 5.0
PING_SECONDS = 30.0  # the listening connection proves it is alive this often
PING_TIMEOUT_SECONDS = 5.0
JITTER = 0.2  # re-reads are spread by up to ±20 %
MAX_WAITERS = 10_000  # per process
MAX_WAITERS_PER_USER = 4  # per process: enough for a few tabs, not for holding many sockets

Order = dict[str, Any]


def _signature(order: Order) -> tuple[Any, ...]:
    """What a waiter waits to see change: the status, and whether a delayed payment is in
    flight (the order stays pending then, and the buyer's page says so)."""
    checkout = order.get("checkout") or {}
    return (order["status"], bool(checkout.get("payment_processing")))


class OrderWatcher:
    def __init__(self, database_url: str) -> None:
        # The engine's own reading of the URL (a Unix socket's `?host=/dir`, ssl, ...): a DSN
        # string rendered back from it loses some of them (asyncpg took `%2F...` for a host name).
        # Less the options SQLAlchemy's adapter keeps for itself, which asyncpg does not take.
        _, args = asyncpg_dialect().create_connect_args(make_url(database_url))
        for adapter_only in ("prepared_statement_cache_size", "prepared_statement_name_func"):
            args.pop(adapter_only, None)
        self._connect_args = {**args, "timeout": CONNECT_TIMEOUT_SECONDS}  # as the engine's
        self._waiters: dict[int, set[asyncio.Event]] = defaultdict(set)
        self._per_user: dict[int, int] = defaultdict(int)
        self._count = 0
        self._conn: asyncpg.Connection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._last_attempt = float("-inf")
        self._closed = False

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def read_when_changed(
        self, order_id: int, user_id: int, read: Callable[[], Awaitable[Order]], seconds: float
    ) -> Order:
        """`read()` the order; if it is pending, wait up to `seconds` for it to change and
        answer it as it is then. `read` raises for an order the user may not see (before any
        waiting)."""
        if seconds <= 0:
            return await read()
        if not self._admit(user_id):
            order = await read()  # an order the user may not see is 404 at once
            if order["status"] == "pending":
                await asyncio.sleep(min(seconds, OVER_CAP_DELAY_SECONDS))
                order = await read()
            return order
        # Registered before the first read: a change committed after that read wakes us.
        event = asyncio.Event()
        self._waiters[order_id].add(event)
        try:
            self._start_listening()
            first = await read()
            return await self._wait(first, event, read, seconds)
        finally:
            self._release(order_id, user_id, event)

    async def _wait(
        self,
        first: Order,
        event: asyncio.Event,
        read: Callable[[], Awaitable[Order]],
        seconds: float,
    ) -> Order:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        order = first
        while order["status"] == "pending" and _signature(order) == _signature(first):
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closed:
                break
            recheck = RECHECK_SECONDS if self.listening else RECHECK_UNLISTENED_SECONDS
            recheck *= random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 (spread, not secrets)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, recheck))
            if not self.listening:
                self._start_listening()
            event.clear()  # before the read: a change after it sets the event again
            order = await read()
        return order

    def _admit(self, user_id: int) -> bool:
        if self._closed or self._count >= MAX_WAITERS:
            return False
        if self._per_user[user_id] >= MAX_WAITERS_PER_USER:
            return False
        self._count += 1
        self._per_user[user_id] += 1
        return True

    def _release(self, order_id: int, user_id: int, event: asyncio.Event) -> None:
        self._count -= 1
        self._per_user[user_id] -= 1
        if self._per_user[user_id] <= 0:
            del self._per_user[user_id]
        events = self._waiters.get(order_id)
        if events is not None:
            events.discard(event)
            if not events:
                del self._waiters[order_id]

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            order_id = int(payload)
        except ValueError:
            return
        for event in self._waiters.get(order_id, ()):
            event.set()

    def _on_lost(self, conn: object) -> None:
        if conn is not self._conn:
            return  # an older connection's late goodbye
        self._conn = None
        self._wake_all_spread()  # changes may have been missed meanwhile

    def _wake_all_spread(self) -> None:
        """Wake every waiter to re-read, spread over a second (not all in one tick)."""
        loop = asyncio.get_running_loop()
        for events in self._waiters.values():
            for event in events:
                loop.call_later(random.uniform(0, 1.0), event.set)  # noqa: S311 (spread)

    def _start_listening(self) -> None:
        """Open the listening connection in the background (never delays a request)."""
        if self.listening or self._closed:
            return
        if self._connecting is not None and not self._connecting.done():
            return
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_attempt < RECONNECT_DELAY_SECONDS:
            return
        self._last_attempt = loop.time()
        self._connecting = loop.create_task(self._listen())

    async def _listen(self) -> None:
        try:
            conn = await asyncpg.connect(**self._connect_args)
        except (
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            TimeoutError,
            TypeError,  # an option in the URL asyncpg does not know
            ValueError,
        ) as exc:
            log.warning("order watch: cannot listen for order changes (%s)", type(exc).__name__)
            return
        try:
            await conn.add_listener(CHANNEL, self._on_notify)
            if self._closed:
                raise asyncio.CancelledError
        except BaseException as exc:
            conn.terminate()
            if isinstance(exc, Exception):
                log.warning("order watch: LISTEN failed (%s)", type(exc).__name__)
                return
            raise
        self._conn = conn
        conn.add_termination_listener(self._on_lost)
        self._wake_all_spread()  # changes before LISTEN may have been missed
        self._pinger = asyncio.get_running_loop().create_task(self._keep_alive(conn))

    async def _keep_alive(self, conn: asyncpg.Connection) -> None:
        """Ping the listening connection; one that does not answer is closed (and reopened by
        the next waiter)."""
        while not conn.is_closed():
            await asyncio.sleep(PING_SECONDS)
            try:
                await conn.execute("SELECT 1", timeout=PING_TIMEOUT_SECONDS)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                log.warning("order watch: the listening connection stopped answering")
                conn.terminate()  # its termination listener drops it
                return

    async def close(self) -> None:
        """Wake every waiter (each answers what it reads now) and stop listening."""
        self._closed = True
        for events in self._waiters.values():
            for event in events:
                event.set()
        for task in (self._connecting, self._pinger):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=5)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                conn.terminate()
