"""`python -m devstack.stripe_emulator`: a local Stripe for development and tests.

    python -m devstack.stripe_emulator --port 12180 \
        --webhook-url http://127.0.0.1:8001/payments/webhook/ --webhook-secret whsec_... \
        [--enabled-events checkout.session.completed,...] \
        [--state-file .stack/stripe/state.json] [--webhook-retry-seconds 2]

Point the `stripe` client at http://127.0.0.1:PORT with any `sk_test_...` key (or only the one
given with --api-key). Each Checkout Session's `url` is a payment page served here; the control
API is under /_emulator/ (GET /_emulator/ lists it). Ctrl-C or SIGTERM stops it (state saved).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

import uvloop
from hypercorn.asyncio import serve
from hypercorn.config import Config

from devstack.stripe_emulator.app import EmulatorConfig, create_app
from devstack.stripe_emulator.events import enabled_events
from devstack.stripe_emulator.wire import StripeError


def parse_args(argv: list[str] | None = None) -> EmulatorConfig:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.stripe_emulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--webhook-url", help="where events are POSTed (omit: only listed)")
    parser.add_argument(
        "--enabled-events",
        default="*",
        help="comma-separated event types the endpoint receives, as a Stripe endpoint's "
        "enabled_events (default *: all)",
    )
    parser.add_argument("--webhook-secret", required=True, help="whsec_...: signs deliveries")
    parser.add_argument("--state-file", type=Path, help="keep the state here across restarts")
    parser.add_argument(
        "--webhook-retry-seconds",
        type=float,
        default=2.0,
        help="first retry after this long, then doubling (default 2)",
    )
    parser.add_argument("--webhook-max-attempts", type=int, default=8)
    parser.add_argument("--webhook-timeout-seconds", type=float, default=10.0)
    parser.add_argument("--api-key", help="accept only this sk_test_ key")
    parser.add_argument(
        "--public-url", help="base URL of the payment pages (default http://HOST:PORT)"
    )
    args = parser.parse_args(argv)  # fmt: skip
    if not args.webhook_secret.startswith("whsec_") or len(args.webhook_secret) < 12:
        parser.error("--webhook-secret must look like Stripe's: whsec_ followed by the secret")
    if args.webhook_retry_seconds <= 0 or args.webhook_max_attempts < 1:
        parser.error("--webhook-retry-seconds must be > 0 and --webhook-max-attempts >= 1")
    try:
        enabled = enabled_events([t.strip() for t in args.enabled_events.split(",") if t.strip()])
    except StripeError as exc:
        parser.error(f"--enabled-events: {exc.message}")
    return EmulatorConfig(
        port=args.port,
        host=args.host,
        webhook_url=args.webhook_url or None,
        enabled_events=tuple(enabled),
        webhook_secret=args.webhook_secret,
        state_file=args.state_file,
        webhook_retry_seconds=args.webhook_retry_seconds,
        webhook_max_attempts=args.webhook_max_attempts,
        webhook_timeout_seconds=args.webhook_timeout_seconds,
        api_key=args.api_key,
        public_url=args.public_url,
    )


async def run(config: EmulatorConfig) -> None:
    app = create_app(config)
    hyper = Config()
    hyper.bind = [f"{config.host}:{config.port}"]
    hyper.accesslog = None
    hyper.errorlog = logging.getLogger("hypercorn.error")
    hyper.graceful_timeout = 3
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logging.getLogger("stripe_emulator").info(
        "Stripe emulator on http://%s:%d (webhooks to %s)",
        config.host,
        config.port,
        config.webhook_url or "nowhere",
    )
    await serve(app, hyper, shutdown_trigger=stop.wait)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvloop.run(run(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
