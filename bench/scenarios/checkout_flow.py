"""The checkout scenario's load: N buyers, each buying one movie after another end to end, and
the webhook→paid latency read back from the database.

One checkout is what a buyer does: `POST /cart/add/` → `POST /orders/create/` →
`POST /orders/{id}/checkout/` → pay on the emulator (`POST /_emulator/checkout/sessions/{id}/pay`,
what the hosted page does) → `GET /orders/{id}/?wait=N` (answered when the order changes) or,
with `wait` 0, `GET /orders/{id}/` every `poll` seconds, until it says `paid`. It
counts only then. Every other answer is an error of its step: a non-2xx, a transport error, or an
order not paid within `paid_timeout`; the buyer then cancels what it left pending and goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.load import RunResult, percentile
from bench.machine import own_cpu_seconds

GOOD_CARD = "4242424242424242"
STEPS = ("add", "create", "checkout", "pay", "paid_seen", "total")
STEP_NAMES = {
    "add": "`POST /cart/add/`",
    "create": "`POST /orders/create/`",
    "checkout": "`POST /orders/{id}/checkout/` (update-with-start, Stripe session)",
    "pay": "pay on the emulator (`POST /_emulator/.../pay`)",
    "paid_seen": "pay answered → `GET /orders/{id}/` says paid (buyer-seen)",
    "total": "the whole checkout (add → paid seen)",
}


@dataclass
class Buyer:
    user_id: int
    headers: dict[str, str]
    movies: list[str]  # uuids, in the order this buyer buys them
    next_movie: int = 0

    def take_movie(self) -> str | None:
        if self.next_movie >= len(self.movies):
            return None
        self.next_movie += 1
        return self.movies[self.next_movie - 1]


class StepFailed(Exception):
    def __init__(self, step: str, what: str) -> None:
        super().__init__(f"{step}: {what}")
        self.step, self.what = step, what


@dataclass
class FlowRun:
    """What one run of the buyers did."""

    seconds: float = 0.0
    responses: int = 0
    rate_limited: int = 0
    other_status: int = 0  # non-2xx answers, and orders not paid in time
    socket_errors: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # "step: what" -> count
    durations: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    paid_orders: list[int] = field(default_factory=list)
    paid_by: list[int] = field(default_factory=list)  # the buyer (user id) of each
    out_of_movies: int = 0


class Flow:
    def __init__(
        self,
        api: aiohttp.ClientSession,
        emulator: aiohttp.ClientSession,
        *,
        poll: float,
        wait: int,
        paid_timeout: float,
    ) -> None:
        self.api, self.emulator = api, emulator
        self.poll, self.wait, self.paid_timeout = poll, wait, paid_timeout

    @property
    def waiting(self) -> str:
        """How a buyer learns its order is paid, for the report."""
        if self.wait:
            return f"a buyer waits for paid with `GET /orders/{{id}}/?wait={self.wait}`"
        return f"a buyer polls its order every {self.poll:g} s after paying"

    async def _call(
        self,
        run: FlowRun,
        step: str,
        client: aiohttp.ClientSession,
        method: str,
        path: str,
        **kwargs: Any,
    ) -> dict[str, Any]:
        try:
            async with client.request(method, path, **kwargs) as response:
                status, raw = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            run.socket_errors += 1
            raise StepFailed(step, type(exc).__name__) from None
        run.responses += 1
        if not 200 <= status < 300:
            if status == 429:
                run.rate_limited += 1
            else:
                run.other_status += 1
            code = ""
            with contextlib.suppress(ValueError, AttributeError):
                code = str(json.loads(raw).get("error", ""))
            raise StepFailed(step, f"{status} {code}".strip())
        body: dict[str, Any] = json.loads(raw)
        return body

    async def _timed(self, run: FlowRun, step: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        started = time.perf_counter()
        body = await self._call(run, step, *args, **kwargs)
        run.durations[step].append(time.perf_counter() - started)
        return body

    async def checkout(self, run: FlowRun, buyer: Buyer, movie: str) -> None:
        """One checkout, end to end; raises StepFailed (after cleaning up) on an error."""
        headers = buyer.headers
        started = time.perf_counter()
        await self._timed(run, "add", self.api, "POST", "/cart/add/",
                          json={"movie_uuid": movie}, headers=headers)  # fmt: skip
        order_id: int | None = None
        try:
            order = await self._timed(run, "create", self.api, "POST", "/orders/create/",
                                      headers=headers)  # fmt: skip
            order_id = int(order["id"])
            page = await self._timed(run, "checkout", self.api, "POST",
                                     f"/orders/{order_id}/checkout/", headers=headers)  # fmt: skip
            session_id = page["session_id"]
            await self._timed(run, "pay", self.emulator, "POST",
                              f"/_emulator/checkout/sessions/{session_id}/pay",
                              json={"card": GOOD_CARD})  # fmt: skip
            paid_from = time.perf_counter()
            await self._until_paid(run, order_id, headers)
            done = time.perf_counter()
            run.durations["paid_seen"].append(done - paid_from)
            run.durations["total"].append(done - started)
            run.paid_orders.append(order_id)
            run.paid_by.append(buyer.user_id)
        except StepFailed:
            await self._clean_up(buyer, order_id)
            raise

    async def _until_paid(self, run: FlowRun, order_id: int, headers: dict[str, str]) -> None:
        deadline = time.perf_counter() + self.paid_timeout
        params = {"wait": self.wait} if self.wait else None
        while True:
            order = await self._call(run, "poll", self.api, "GET", f"/orders/{order_id}/",
                                     params=params, headers=headers)  # fmt: skip
            if order["status"] == "paid":
                return
            if order["status"] != "pending":
                raise StepFailed("poll", f"order {order['status']}")
            if time.perf_counter() > deadline:
                run.other_status += 1
                raise StepFailed("poll", f"not paid within {self.paid_timeout:g} s")
            if not self.wait:
                await asyncio.sleep(self.poll)

    async def _clean_up(self, buyer: Buyer, order_id: int | None) -> None:
        """Leave the buyer able to go on: no pending order, an empty cart."""
        try:
            if order_id is not None:
                async with self.api.post(f"/orders/cancel/{order_id}/", headers=buyer.headers):
                    pass
            async with self.api.delete("/cart/items/", headers=buyer.headers):
                pass
        except (aiohttp.ClientError, TimeoutError):
            pass

    async def run(self, buyers: list[Buyer], seconds: float) -> FlowRun:
        """Every buyer starts checkouts until `seconds` have passed; the ones under way then
        finish (and count): the run lasts until the last one did."""
        run = FlowRun()
        deadline = time.perf_counter() + seconds

        async def lane(buyer: Buyer) -> None:
            while time.perf_counter() < deadline:
                movie = buyer.take_movie()
                if movie is None:
                    run.out_of_movies += 1
                    return
                try:
                    await self.checkout(run, buyer, movie)
                except StepFailed as failed:
                    run.errors[f"{failed.step}: {failed.what}"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(lane(b) for b in buyers))
        run.seconds = time.perf_counter() - started
        return run


def run_result(run: FlowRun, buyers: int, cpu_seconds: float) -> RunResult:
    """The run as a row of the harness's tables: checkouts/s, whole-checkout latency."""
    total = sorted(run.durations["total"])
    return RunResult(
        name="checkout",
        method="FLOW",
        path="add → order → checkout → pay → paid",
        tool="aiohttp buyers",
        concurrency=buyers,
        seconds=run.seconds,
        responses=run.responses,
        ok=len(run.paid_orders),
        rate_limited=run.rate_limited,
        other_status=run.other_status,
        socket_errors=run.socket_errors,
        p50_ms=1000 * percentile(total, 50),
        p90_ms=1000 * percentile(total, 90),
        p99_ms=1000 * percentile(total, 99),
        max_ms=1000 * (total[-1] if total else 0.0),
        loadgen_cpu_pct=100.0 * cpu_seconds / run.seconds if run.seconds else None,
    )


async def timed_run(flow: Flow, buyers: list[Buyer], seconds: float) -> tuple[FlowRun, RunResult]:
    cpu_before = own_cpu_seconds(children=False)
    run = await flow.run(buyers, seconds)
    return run, run_result(run, len(buyers), own_cpu_seconds(children=False) - cpu_before)


# Webhook→paid in the database: the order's paid_at minus when the API recorded the
# checkout.session.completed event (both `now()` of their transactions), and when the API had
# handed the event to the workflow (handled_at).
LATENCY_SQL = """
SELECT EXTRACT(EPOCH FROM o.paid_at - e.received_at) AS webhook_to_paid,
       EXTRACT(EPOCH FROM e.handled_at - e.received_at) AS webhook_to_signalled
FROM orders o
JOIN stripe_events e ON e.order_id = o.id AND e.type = 'checkout.session.completed'
WHERE o.id = ANY(:ids) AND o.paid_at IS NOT NULL
"""


async def db_latencies(database_url: str, order_ids: list[int]) -> dict[str, list[float]]:
    from sqlalchemy import bindparam, text
    from sqlalchemy.dialects.postgresql import ARRAY, BIGINT

    from domain.config import Settings
    from domain.db import create_engine

    engine = create_engine(Settings(database_url=database_url))
    statement = text(LATENCY_SQL).bindparams(bindparam("ids", type_=ARRAY(BIGINT)))
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(statement, {"ids": order_ids})).all()
    finally:
        await engine.dispose()
    return {
        "webhook_to_paid": sorted(float(r[0]) for r in rows),
        "webhook_to_signalled": sorted(float(r[1]) for r in rows if r[1] is not None),
    }
