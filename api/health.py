"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from quart import Blueprint
from quart_schema import tag_blueprint, validate_response
from sqlalchemy import text

from api.services import services

bp = Blueprint("health", __name__, url_prefix="/health")
tag_blueprint(bp, ["health"])
CHECK_TIMEOUT = 2.0


class Liveness(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]
    down: list[str]


async def _check(probe: Callable[[], Awaitable[object]]) -> str:
    try:
        await asyncio.wait_for(probe(), timeout=CHECK_TIMEOUT)
    except Exception as exc:  # any failure means "down"; the type is enough for an operator
        return f"down: {type(exc).__name__}"
    return "ok"


@bp.get("/live")
@validate_response(Liveness, 200)
async def live() -> Liveness:
    """The process is up and serving requests."""
    return Liveness(status="ok")


@bp.get("/ready")
@validate_response(Readiness, 200)
@validate_response(Readiness, 503)
async def ready() -> tuple[Readiness, int]:
    """Postgres, Redis and Temporal all answer. 503 names what is down."""
    svc = services()

    async def postgres() -> None:
        async with svc.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    names = ("postgres", "redis", "temporal")
    results = await asyncio.gather(
        _check(postgres), _check(svc.redis.ping), _check(svc.temporal.check_health)
    )
    checks = dict(zip(names, results, strict=True))
    down = [name for name, result in checks.items() if result != "ok"]
    status = 503 if down else 200
    return Readiness(status="unavailable" if down else "ok", checks=checks, down=down), status
