"""Async engine and session factory (SQLAlchemy 2 + asyncpg), and `HotQuery`, the fast path
for single-statement reads on per-request hot paths."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import asyncpg
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from domain.config import Settings
from domain.errors import DomainError

SessionFactory = async_sessionmaker[AsyncSession]

# Ids are BIGINT identities: a larger number can name no row (and must not reach Postgres).
MAX_ID = 2**63 - 1


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


@asynccontextmanager
async def autocommit(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session without BEGIN/COMMIT (the session-level `autocommit_engine`, for code that
    takes an AsyncSession): each statement commits on its own. For reads and single-statement
    writes on hot paths, two round trips fewer than `transaction`; under READ COMMITTED a
    transaction gives several reads no common snapshot anyway. The pool resets the
    connection's isolation level when it is returned."""
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


# A dead connection seen on the fast path (e.g. after a Postgres restart, with no pre-ping) is
# retried through SQLAlchemy on the same connection: SQLAlchemy then recognises the disconnect,
# invalidates the pool (so every stale connection is replaced) and raises a DBAPIError with
# connection_invalidated, which the API answers with 503 instead of 500.
_DRIVER_CONNECTION_ERRORS = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    ConnectionError,
    OSError,
)


def _end_stuck_connection(driver: Any) -> None:
    """The server ended the session (a Postgres restart, pg_terminate_backend) and its FATAL
    message was read, but not yet the end of the socket: asyncpg's protocol is left waiting for
    a ReadyForQuery that never comes and refuses every call ("cannot switch to state …; another
    operation is in progress"), an error SQLAlchemy does not take for a disconnect (it was a
    rare 500). Closing the connection here turns it into one: SQLAlchemy's path below then sees
    a closed connection, invalidates the pool and answers 503 like any other dead connection."""
    driver.terminate()


def _is_autocommit(db: AsyncConnection | AsyncSession) -> bool:
    if not isinstance(db, AsyncConnection):
        return False
    options = db.sync_connection.get_execution_options() if db.sync_connection else {}
    return options.get("isolation_level") == "AUTOCOMMIT"


@dataclass(frozen=True)
class HotQuery:
    """A Core statement plus its SQL text for asyncpg, compiled once on first use.

    On per-request hot paths (auth, login) building, caching and executing a SQLAlchemy
    statement cost more CPU than the query itself (docs/benchmarks.md). On an autocommit
    AsyncConnection the text goes straight to asyncpg as a prepared statement; anywhere else
    (an ORM session, a connection inside a transaction) the Core statement runs as usual, so
    the fast path can never step outside a transaction.
    """

    statement: Executable

    @cached_property
    def _compiled(self) -> tuple[str, tuple[str, ...]]:
        statement = cast(ClauseElement, self.statement)
        compiled = cast(SQLCompiler, statement.compile(dialect=postgresql.asyncpg.dialect()))
        return str(compiled), tuple(compiled.positiontup or ())

    async def fetchrow(
        self, db: AsyncConnection | AsyncSession, **params: object
    ) -> Sequence[Any] | None:
        if _is_autocommit(db):
            sql, order = self._compiled
            driver: Any = (await db.get_raw_connection()).driver_connection  # type: ignore[union-attr]
            try:
                row: Sequence[Any] | None = await driver.fetchrow(sql, *(params[k] for k in order))
                return row
            except _DRIVER_CONNECTION_ERRORS:
                pass  # SQLAlchemy's path below recognises the disconnect (see _DRIVER_...)
            except asyncpg.exceptions.InternalClientError:
                _end_stuck_connection(driver)
        return (await db.execute(self.statement, params)).one_or_none()

    async def execute(self, db: AsyncConnection | AsyncSession, **params: object) -> None:
        if _is_autocommit(db):
            sql, order = self._compiled
            driver: Any = (await db.get_raw_connection()).driver_connection  # type: ignore[union-attr]
            try:
                await driver.execute(sql, *(params[k] for k in order))
                return
            except _DRIVER_CONNECTION_ERRORS:
                pass  # SQLAlchemy's path below recognises the disconnect (see _DRIVER_...)
            except asyncpg.exceptions.InternalClientError:
                _end_stuck_connection(driver)
        await db.execute(self.statement, params)
