"""What the emulator's tests share: a real webhook receiver, a handle on the emulator, waits."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import stripe

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
NO_FUNDS_CARD = "4000000000009995"


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; that value. Fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class WebhookReceiver:
    """An HTTP endpoint on a free port that records every POST and answers as told.

    `answer(500, 500)` makes the next two answers 500 (then 200 again); `stall(3)` makes the next
    answer wait 3 s first.
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._answers: deque[tuple[int, float]] = deque()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    status, delay = receiver._answers.popleft() if receiver._answers else (200, 0)
                arrived = time.monotonic()
                time.sleep(delay)
                with receiver._lock:
                    receiver.received.append(Received(dict(self.headers), body, arrived, status))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"received": status < 300}).encode())

            def do_GET(self) -> None:  # the shop's own pages (success_url, cancel_url)
                page = f"<html><body><h1>Shop</h1><p id='path'>{self.path}</p></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(page.encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base}/payments/webhook/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def answer(self, *statuses: int) -> None:
        with self._lock:
            self._answers.extend((status, 0.0) for status in statuses)

    def recover(self) -> None:
        """Forget the answers still queued: 200 from now on."""
        with self._lock:
            self._answers.clear()

    def stall(self, seconds: float, status: int = 200) -> None:
        with self._lock:
            self._answers.append((status, seconds))

    def events(self, event_type: str | None = None) -> list[Received]:
        with self._lock:
            found = list(self.received)
        return [r for r in found if event_type is None or r.event["type"] == event_type]

    def wait_for_events(self, count: int, event_type: str | None = None, timeout: float = 10.0):
        return wait_for(
            lambda: (found := self.events(event_type)) and len(found) >= count and found,
            timeout,
            f"{count} deliveries of {event_type or 'any event'}",
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Emu:
    """The emulator under test: its URL, credentials, a `stripe` client, the control API."""

    url: str
    api_key: str
    webhook_secret: str
    receiver: WebhookReceiver
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def client(self, *, retries: int = 0, timeout: float = 30.0, key: str | None = None):
        return stripe.StripeClient(
            key if key is not None else self.api_key,
            base_addresses={"api": self.url},
            max_network_retries=retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"/_emulator{path}", **kwargs)

    def reset(self) -> None:
        assert self.control("POST", "/reset").status_code == 200

    def pay(self, session_id: str, card: str = GOOD_CARD, **fields: str) -> httpx.Response:
        body = {"card": card, **fields}
        return self.control("POST", f"/checkout/sessions/{session_id}/pay", json=body)

    def fault(self, target: str, mode: str, **spec: Any) -> dict[str, Any]:
        response = self.control("POST", f"/faults/{target}", json={"mode": mode, **spec})
        assert response.status_code == 200, response.text
        knob: dict[str, Any] = response.json()
        return knob

    def deliveries(self, event_id: str | None = None) -> list[dict[str, Any]]:
        params = {"event": event_id} if event_id else {}
        response = self.control("GET", "/deliveries", params=params)
        rows: list[dict[str, Any]] = response.json()["data"]
        return rows

    def close(self) -> None:
        self.http.close()


def line(name: str, unit_amount: int, currency: str = "usd", quantity: int = 1) -> dict[str, Any]:
    """A `price_data` line item."""
    return {
        "quantity": quantity,
        "price_data": {
            "currency": currency,
            "unit_amount": unit_amount,
            "product_data": {"name": name},
        },
    }


def session_params(**overrides: Any) -> dict[str, Any]:
    """Valid Checkout Session parameters (two tickets at 5.00 USD), with overrides."""
    params: dict[str, Any] = {
        "mode": "payment",
        "success_url": "http://shop.test/paid?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://shop.test/cart",
        "line_items": [
            {
                "quantity": 2,
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 500,
                    "product_data": {"name": "The Third Man (1949)"},
                },
            }
        ],
        "metadata": {"order_id": "42"},
    }
    params.update(overrides)
    return params


def verify(received: Received, secret: str) -> stripe.Event:
    """What the service's webhook endpoint does: verify the signature, parse the event."""
    return stripe.Webhook.construct_event(
        received.body, received.headers["Stripe-Signature"], secret
    )
