"""`start_temporal_dev_server` (devstack.temporal) with the real `temporal` CLI."""

from __future__ import annotations

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from devstack.temporal import start_temporal_dev_server
from tests.devstack.support import gone


async def test_temporal_dev_server_serves_with_search_attributes(tmp_path):
    with start_temporal_dev_server(tmp_path / "temporal", headless=True) as temporal:
        assert temporal.address == f"127.0.0.1:{temporal.port}"
        client = await Client.connect(temporal.address, namespace="default")
        response = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        assert {"UserId", "OrderId"} <= set(response.custom_attributes)
        pid = temporal.pid
    assert pid is not None and gone(pid)
    assert (tmp_path / "temporal" / "temporal.db").exists()
