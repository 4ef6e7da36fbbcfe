"""Callers in each group for the API tests (one fresh account per group and module)."""

from __future__ import annotations

import pytest
from quart.typing import TestClientProtocol

from domain.models import UserGroup
from tests.api.catalog_support import caller
from tests.conftest import Stack


@pytest.fixture(scope="module")
async def moderator(client: TestClientProtocol, stack: Stack) -> dict[str, str]:
    return await caller(client, stack, UserGroup.MODERATOR)


@pytest.fixture(scope="module")
async def admin(client: TestClientProtocol, stack: Stack) -> dict[str, str]:
    return await caller(client, stack, UserGroup.ADMIN)


@pytest.fixture(scope="module")
async def plain_user(client: TestClientProtocol, stack: Stack) -> dict[str, str]:
    return await caller(client, stack, UserGroup.USER)
