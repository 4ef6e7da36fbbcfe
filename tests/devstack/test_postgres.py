"""`start_postgres` (devstack.postgres) against real binaries, system and pgserver."""

from __future__ import annotations

import asyncpg
import pytest

from devstack.postgres import start_postgres
from devstack.postgres_binaries import find_postgres_binaries
from tests.devstack.support import gone


@pytest.mark.parametrize("flavor", ["pgserver", "system"])
async def test_postgres_starts_creates_db_and_keeps_data(tmp_path, flavor):
    if not find_postgres_binaries(flavor):
        pytest.skip(f"no {flavor} Postgres binaries on this machine")
    state = tmp_path / "pg"
    with start_postgres(state, flavor=flavor, dbname="devstack_test", durable=False) as pg:
        assert pg.url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")
        assert pg.url.endswith(f":{pg.port}/devstack_test")
        assert pg.extras["flavor"] == flavor
        conn = await asyncpg.connect(pg.extras["dsn"])
        try:
            assert await conn.fetchval("SELECT 1") == 1
            await conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        finally:
            await conn.close()
        pid = pg.pid
    assert pid is not None and gone(pid)
    pg.stop()  # idempotent

    # Same state dir again (another port): the data survived.
    with start_postgres(state, flavor="auto", dbname="devstack_test", durable=False) as again:
        assert again.extras["flavor"] == flavor  # chosen by the data dir's PG_VERSION
        conn = await asyncpg.connect(again.extras["dsn"])
        try:
            assert await conn.fetchval("SELECT x FROM kept") == 42
        finally:
            await conn.close()
