"""Async engine and session factory (SQLAlchemy 2 + asyncpg)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from domain.config import Settings
from domain.errors import DomainError

SessionFactory = async_sessionmaker[AsyncSession]


def constraint_name(error: DBAPIError) -> str | None:
    """The name of the constraint a database error is about (asyncpg reports it), if any."""
    cause = getattr(error.orig, "__cause__", None)
    name = getattr(cause, "constraint_name", None)
    return name if isinstance(name, str) else None


def create_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size // 2,
        # No pre-ping: it costs three round trips per checkout (docs/benchmarks.md). After a
        # Postgres restart the first query on a stale connection fails (503), and SQLAlchemy
        # then invalidates the whole pool, so the next requests reconnect.
        pool_pre_ping=False,
        pool_recycle=1800,
        # Errors and logs never carry bound values (emails, password hashes).
        hide_parameters=True,
        pool_timeout=5,
        # A connection attempt to a dead server fails fast instead of hanging a request.
        connect_args={"timeout": 5, "command_timeout": 30},
    )


def autocommit_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, without BEGIN/COMMIT: for single-statement reads on hot paths."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """The boundary commit: commit on success, roll back on any error.

    A DomainError that is marked `commit_before_raise` (a detected token reuse revokes a session
    family, then reports the error) commits what was written before it is re-raised.
    """
    async with sessions() as session:
        try:
            yield session
        except DomainError as exc:
            if exc.commit_before_raise:
                await session.commit()
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
