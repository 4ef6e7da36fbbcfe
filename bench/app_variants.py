"""Experiment-only app factory: the real app with one hot spot switched off, for A/B runs.

Never used by the product. It exists so the numbers in docs/benchmarks.md that say "without
X the endpoint does Y" can be reproduced:

    BENCH_NO_PRE_PING=1 .venv/bin/python bench/compare_servers.py --configs granian-2w \\
        --app app_variants:create_app --tag " no pre-ping"

Switches (environment variables, read when the server starts):

BENCH_NO_PRE_PING=1   the engine without pool_pre_ping (the asyncpg dialect pings with
                      BEGIN; `;`; ROLLBACK: three round trips at every pool checkout)
BENCH_AUTOCOMMIT=1    the engine in AUTOCOMMIT (no BEGIN/COMMIT round trips). Only for
                      measuring read-only endpoints: writes lose their transaction.
BENCH_HASH_THREADS=N  the event loop's default executor, which runs asyncio.to_thread and so
                      the argon2 hashing, gets N threads (Python's default is cpu_count + 4)
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from quart import Quart
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import api.app
from api.asgi import create_app_from_env
from domain.config import Settings


def _engine(settings: Settings) -> AsyncEngine:
    """domain.db.create_engine (keep the two in step) with the switches applied."""
    extra: dict[str, Any] = {}
    if os.environ.get("BENCH_AUTOCOMMIT"):
        extra["isolation_level"] = "AUTOCOMMIT"
    return create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=not os.environ.get("BENCH_NO_PRE_PING"),
        hide_parameters=True,
        pool_timeout=5,
        connect_args={"timeout": 5, "command_timeout": 30},
        **extra,
    )


def create_app() -> Quart:
    if os.environ.get("BENCH_NO_PRE_PING") or os.environ.get("BENCH_AUTOCOMMIT"):
        api.app.create_engine = _engine  # the name that create_app looks up
    app = create_app_from_env()
    threads = os.environ.get("BENCH_HASH_THREADS")
    if threads:

        @app.before_serving
        async def _hash_executor() -> None:
            executor = ThreadPoolExecutor(max_workers=int(threads), thread_name_prefix="hash")
            asyncio.get_running_loop().set_default_executor(executor)

    return app
