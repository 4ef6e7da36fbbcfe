"""Webhook deliveries: each event POSTed to the endpoint, signed as Stripe signs, retried.

The body is the event's JSON; `Stripe-Signature: t=<unix time>,v1=<hex>` where the hex is
HMAC-SHA256, keyed with the endpoint secret (`whsec_...`), of `"<t>.<body>"` — what
`stripe.Webhook.construct_event` verifies. `t` is the time of the attempt, so a retry is not
rejected as stale. A non-2xx answer, a timeout or a refused connection is retried after
`retry_seconds`, then twice that, and so on (Stripe's schedule, compressed) until `max_attempts`;
an event that never got a 2xx keeps `pending_webhooks: 1`. Fault knobs (`faults.py`) can
duplicate, reorder, delay or drop the next deliveries. Every attempt is logged in `deliveries`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import aiohttp

from devstack.stripe_emulator.faults import take_fault
from devstack.stripe_emulator.store import Store

__all__ = ["Dispatcher", "sign"]

log = logging.getLogger("stripe_emulator")

MAX_DELIVERY_LOG = 10_000
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def sign(payload: str, secret: str, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class Dispatcher:
    def __init__(
        self,
        store: Store,
        secret: str,
        *,
        retry_seconds: float = 2.0,
        max_attempts: int = 8,
        timeout: float = 10.0,
    ) -> None:
        self.store = store
        self.secret = secret
        self.retry_seconds = retry_seconds
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.tasks: set[asyncio.Task[None]] = set()
        self.held: dict[str, list[str]] = {}  # reorder knob id -> event ids waiting
        self.client: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        # aiohttp: httpx cost the emulator a third of its CPU under the checkout bench.
        self.client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        for event_id, attempts in list(self.store.webhook_queue.items()):  # after a restart
            self._spawn(self._chain(event_id, attempts, self._backoff(attempts)))

    async def stop(self) -> None:
        self.cancel_all()
        if self.client is not None:
            await self.client.close()

    def cancel_all(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        self.held.clear()

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _backoff(self, attempts_made: int) -> float:
        return 0.0 if attempts_made == 0 else self.retry_seconds * 2 ** (attempts_made - 1)

    # ------------------------------------------------------------------ submitting
    def submit(self, event: dict[str, Any]) -> None:
        """A new event: deliver it, unless a fault knob says otherwise."""
        event_id = event["id"]
        knob = take_fault(self.store.webhook_faults)
        mode = knob["mode"] if knob else None
        if mode == "drop":
            self._record(event, attempt=0, status=None, error="dropped (fault knob)", fault="drop")
            return
        self.store.webhook_queue[event_id] = 0
        self.store.changed()
        if knob is None:
            self._spawn(self._chain(event_id, 0, 0.0))
        elif mode == "delay":
            self._spawn(self._chain(event_id, 0, knob["seconds"]))
        elif mode == "duplicate":
            self._spawn(self._chain(event_id, 0, 0.0))
            self._spawn(self._attempt(event_id, 1, fault="duplicate"))
        else:  # reorder
            group = self.held.setdefault(knob["id"], [])
            group.append(event_id)
            if knob["remaining"] == 0:
                self._spawn(self._release(knob["id"], 0.0))
            elif len(group) == 1:
                self._spawn(self._release(knob["id"], knob["seconds"]))

    async def _release(self, knob_id: str, after: float) -> None:
        await asyncio.sleep(after)
        group = self.held.pop(knob_id, [])
        for event_id in reversed(group):  # newest first, one after the other
            if not await self._attempt(event_id, 1, fault="reorder"):
                self._spawn(self._chain(event_id, 1, self._backoff(1)))

    # ------------------------------------------------------------------ delivering
    async def _chain(self, event_id: str, attempts_made: int, first_delay: float) -> None:
        await asyncio.sleep(first_delay)
        while event_id in self.store.webhook_queue:
            attempts_made += 1
            if await self._attempt(event_id, attempts_made):
                return
            if attempts_made >= self.max_attempts:
                self.store.webhook_queue.pop(event_id, None)  # given up; still pending
                self.store.changed()
                log.warning("webhook %s: giving up after %d attempts", event_id, attempts_made)
                return
            self.store.webhook_queue[event_id] = attempts_made
            self.store.changed()
            await asyncio.sleep(self._backoff(attempts_made))

    async def _attempt(self, event_id: str, attempt: int, fault: str | None = None) -> bool:
        """One POST of the event; True on a 2xx (which settles the event's delivery)."""
        event = self.store.events.get(event_id)
        url = self.store.webhook_url
        if event is None:  # reset meanwhile
            return True
        if url is None or self.client is None:
            self._record(event, attempt, status=None, error="no webhook endpoint", fault=fault)
            return False
        payload = json.dumps(event, indent=2)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(payload, self.secret, int(time.time())),
            "User-Agent": USER_AGENT,
            "Cache-Control": "no-cache",
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        body = ""
        try:
            async with self.client.post(
                url, data=payload.encode(), headers=headers, allow_redirects=False
            ) as response:
                status, body = response.status, (await response.text(errors="replace"))[:500]
        except TimeoutError:
            error = f"timed out after {self.timeout:g}s"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        self._record(event, attempt, status=status, error=error, fault=fault, body=body,
                     duration=time.monotonic() - started)  # fmt: skip
        if ok and event_id in self.store.events:
            event["pending_webhooks"] = 0
            self.store.webhook_queue.pop(event_id, None)
            self.store.changed()
        return ok

    def _record(
        self,
        event: dict[str, Any],
        attempt: int,
        *,
        status: int | None,
        error: str | None,
        fault: str | None,
        body: str = "",
        duration: float = 0.0,
    ) -> None:
        self.store.deliveries.append(
            {
                "event": event["id"],
                "type": event["type"],
                "attempt": attempt,
                "url": self.store.webhook_url,
                "status": status,
                "error": error,
                "response_body": body,
                "fault": fault,
                "at": time.time(),
                "duration_ms": round(duration * 1000, 1),
            }
        )
        with contextlib.suppress(ValueError):
            del self.store.deliveries[:-MAX_DELIVERY_LOG]
        self.store.changed()
        outcome = status if status is not None else error
        log.info("webhook %s %s attempt %d -> %s", event["id"], event["type"], attempt, outcome)
