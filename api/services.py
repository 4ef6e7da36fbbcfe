"""What the API builds once per process (at `before_serving`) and every handler uses."""

from __future__ import annotations

from dataclasses import dataclass

from quart import current_app
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from api.order_watch import OrderWatcher
from api.temporal import Temporal
from domain.config import Settings
from domain.db import SessionFactory
from domain.security import OneTimeTokens, PasswordHasher, TokenService
from domain.stripe import StripeGateway

EXTENSION_KEY = "cinema"


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    autocommit: AsyncEngine  # the same pool without BEGIN/COMMIT: single-statement work
    sessions: SessionFactory
    redis: Redis
    temporal: Temporal
    hasher: PasswordHasher
    tokens: TokenService
    one_time_tokens: OneTimeTokens
    stripe: StripeGateway
    order_watch: OrderWatcher  # wakes `GET /orders/{id}/?wait=N` when the order changes


def services() -> Services:
    svc: Services = current_app.extensions[EXTENSION_KEY]
    return svc
