"""`python -m devstack up`: the whole local stack in one terminal (what `make dev` runs).

Starts what is not already configured (Postgres, Redis, Temporal dev server + UI, an SMTP sink,
the Stripe emulator), runs the migrations, then the API (granian) and the Temporal worker,
streaming their output with a prefix. Ctrl-C (or SIGTERM) stops everything in order; if the API
or the worker dies, everything stops too.

State lives in `.stack/` at the repository root (DEVSTACK_STATE_DIR overrides):
postgres/, redis/, temporal/temporal.db, mail/ (one .eml per message), stripe/, logs/.

A service is started only when its setting is absent from both the environment and `.env`:
DATABASE_URL, REDIS_URL, TEMPORAL_ADDRESS, SMTP_HOST/SMTP_PORT. Stripe: STRIPE_API_BASE if set;
else Stripe itself when STRIPE_API_KEY is a real test key; else the Stripe emulator (state in
stripe/, a generated key and webhook secret exported as STRIPE_API_KEY/STRIPE_WEBHOOK_SECRET,
webhooks to the API's /payments/webhook/).

Fixed default ports keep URLs stable across runs (override with API_PORT and
DEVSTACK_{POSTGRES,REDIS,TEMPORAL,TEMPORAL_UI,SMTP,STRIPE}_PORT); a taken default port falls
back to a free one.

The API runs API_WORKERS granian worker processes (default 2: one per core of the 2-core dev
machine; docs/benchmarks.md has the measurements).

Commands can be replaced for experiments: DEVSTACK_API_CMD, DEVSTACK_WORKER_CMD,
DEVSTACK_MIGRATE_CMD (shell-style strings; `{python}` and `{api_port}` are substituted;
an empty string skips that step).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from devstack.config import REPO_ROOT
from devstack.console import ConsoleHandler, console
from devstack.service import ServiceError
from devstack.stack import Stack


class Shutdown(BaseException):
    """Raised by the SIGTERM/SIGHUP handler, like KeyboardInterrupt for SIGINT."""


def _raise_shutdown(signum: int, _frame: FrameType | None) -> None:
    raise Shutdown(signal.Signals(signum).name)


def _install_signal_handlers(handler: Callable[[int, FrameType | None], None] | int) -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def up(state: Path) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(message)s", handlers=[ConsoleHandler()], force=True
    )
    stack = Stack(state)
    # Even when started in the background with SIGINT ignored, Ctrl-C/SIGINT must stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _install_signal_handlers(_raise_shutdown)
    code = 0
    try:
        code = stack.up()
    except (KeyboardInterrupt, Shutdown):
        console.say("shutting down...")
    except ServiceError as exc:
        console.error(str(exc))
        code = 1
    finally:
        # Finish the shutdown even if Ctrl-C is pressed again; every stop has a timeout.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _install_signal_handlers(signal.SIG_IGN)
        stack.shutdown()
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the whole stack in the foreground (make dev)")
    args = parser.parse_args(argv)
    state = Path(os.environ.get("DEVSTACK_STATE_DIR") or REPO_ROOT / ".stack").resolve()
    if args.command == "up":
        return up(state)
    return 2


if __name__ == "__main__":
    sys.exit(main())
