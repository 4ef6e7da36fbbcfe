"""The shared machinery: ports (devstack.ports), the Service handle (devstack.service), spawn
(devstack.process). Real processes; the starters' own tests are beside this one.
"""

from __future__ import annotations

import time

import pytest

from devstack.ports import free_port, port_is_free
from devstack.process import spawn
from devstack.redis import start_redis
from devstack.service import Service, ServiceError
from tests.devstack.support import gone


def test_stop_kills_the_whole_process_group(tmp_path):
    marker = tmp_path / "grandchild.pid"
    service = spawn(
        "sleeper", ["sh", "-c", f"sleep 300 & echo $! > {marker}; wait"], stop_timeout=2
    )
    deadline = time.monotonic() + 5
    while not marker.exists() or not marker.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    grandchild = int(marker.read_text())
    with service:
        assert service.is_running()
    assert gone(grandchild)
    assert not service.is_running()


def test_explicit_busy_port_is_an_error(tmp_path):
    with start_redis(tmp_path / "a") as first, pytest.raises(ServiceError, match="in use"):
        start_redis(tmp_path / "b", port=first.port)
    assert port_is_free(free_port())


def test_service_is_a_context_manager_and_repr_is_useful(tmp_path):
    with start_redis(tmp_path / "r") as service:
        assert isinstance(service, Service)
        assert "redis" in repr(service) and "running" in repr(service)
    assert "stopped" in repr(service)
