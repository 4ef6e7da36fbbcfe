"""`python -m bench.stripe_client`: client CPU per Stripe call, by HTTP client.

Starts the Stripe emulator (a subprocess, so its CPU is not counted), then creates Checkout
Sessions through the real `stripe` client, 16 at a time as the checkout benchmark's worker does,
and prints this process's CPU per call for `stripe.HTTPXClient` and `stripe.AIOHTTPClient`
(alternating, `--rounds` times each). Needs httpx and aiohttp (the dev install has both).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import stripe

from devstack.stripe import start_stripe_emulator

KEY = f"sk_test_{secrets.token_hex(12)}"


def _params() -> dict[str, Any]:
    line = {
        "quantity": 1,
        "price_data": {"currency": "usd", "unit_amount": 299, "product_data": {"name": "A movie"}},
    }
    return {
        "mode": "payment",
        "line_items": [line, line],
        "success_url": "http://cinema.test/payments/success/",
        "cancel_url": "http://cinema.test/payments/cancel/",
        "client_reference_id": "1",
        "customer_email": "buyer@example.com",
        "metadata": {"order_id": "1"},
        "payment_intent_data": {"metadata": {"order_id": "1"}},
        "expires_at": int(time.time()) + 3600,
    }


async def _cpu_per_call(client: stripe.StripeClient, calls: int, concurrency: int) -> float:
    params = _params()

    async def one() -> None:
        key = secrets.token_hex(8)
        await client.v1.checkout.sessions.create_async(params, {"idempotency_key": key})  # type: ignore[arg-type]

    await asyncio.gather(*(one() for _ in range(concurrency)))  # warm the pool
    batches = max(1, calls // concurrency)
    start = time.process_time()
    for _ in range(batches):
        await asyncio.gather(*(one() for _ in range(concurrency)))
    return (time.process_time() - start) / (batches * concurrency) * 1000


async def main(calls: int, concurrency: int, rounds: int) -> None:
    secret = f"whsec_{secrets.token_hex(16)}"
    with start_stripe_emulator(Path(tempfile.mkdtemp()), webhook_secret=secret, api_key=KEY) as emu:
        for _ in range(rounds):
            for name in ("httpx", "aiohttp"):
                http: Any = (
                    stripe.HTTPXClient(timeout=10)
                    if name == "httpx"
                    else stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=10))
                )
                client = stripe.StripeClient(
                    KEY,
                    base_addresses={"api": emu.url},
                    http_client=http,
                )
                ms = await _cpu_per_call(client, calls, concurrency)
                print(f"{name:8} {ms:6.2f} ms of client CPU per Checkout Session create")
                await http.close_async()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=288)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.concurrency, args.rounds))
