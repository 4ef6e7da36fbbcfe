"""Fixtures of the profile tests: an app with its own media folder and a caller per role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol

from domain.models import UserGroup
from tests.conftest import Stack, app_client
from tests.profiles.support import AVATAR_MAX_BYTES, Caller, make_caller


@pytest.fixture(scope="module")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
async def profiles_client(
    stack: Stack, worker: Any, media_root: Path
) -> AsyncIterator[TestClientProtocol]:
    async with app_client(stack, media_root=media_root, avatar_max_bytes=AVATAR_MAX_BYTES) as c:
        yield c


@pytest.fixture(scope="module")
async def default_client(
    stack: Stack, worker: Any, media_root: Path
) -> AsyncIterator[TestClientProtocol]:
    """The default size limits (AVATAR_MAX_BYTES, MAX_REQUEST_BYTES), only the media folder
    changed."""
    async with app_client(stack, media_root=media_root) as c:
        yield c


@pytest.fixture
async def owner(client: TestClientProtocol, stack: Stack) -> Caller:
    """A fresh user per test: each test starts without a profile."""
    return await make_caller(client, stack, UserGroup.USER)


@pytest.fixture(scope="module")
async def stranger(client: TestClientProtocol, stack: Stack) -> Caller:
    return await make_caller(client, stack, UserGroup.USER)


@pytest.fixture(scope="module")
async def moderator_caller(client: TestClientProtocol, stack: Stack) -> Caller:
    return await make_caller(client, stack, UserGroup.MODERATOR)


@pytest.fixture(scope="module")
async def admin_caller(client: TestClientProtocol, stack: Stack) -> Caller:
    return await make_caller(client, stack, UserGroup.ADMIN)
