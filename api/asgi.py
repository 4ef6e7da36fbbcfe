"""ASGI entry point: `granian --interface asgi --factory api.asgi:create_app_from_env`."""

from __future__ import annotations

import logging

from quart import Quart

from api.app import create_app
from domain.config import Settings


def create_app_from_env() -> Quart:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return create_app(Settings())
