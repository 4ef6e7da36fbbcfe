"""ASGI entry point: `granian --interface asgi --factory api.asgi:create_app_from_env`."""

from __future__ import annotations

import gc
import logging

from quart import Quart

from api.app import create_app
from domain.config import Settings


def create_app_from_env() -> Quart:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(Settings())
    # What the imports and the app factory built lives as long as the process: out of the
    # cyclic GC's way, whose full collections otherwise stall the event loop for tens of
    # milliseconds every few seconds under load (p99 of every endpoint 50-70 ms -> 12-13 ms at
    # 32 connections; docs/benchmarks.md).
    gc.freeze()
    return app
