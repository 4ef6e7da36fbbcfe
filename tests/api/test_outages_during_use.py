"""Redis and Temporal going down while the API is in use, and coming back.

Each test starts its own real Redis or Temporal dev server, uses the API, kills the server
(SIGKILL: no goodbye on the wire), checks what every endpoint answers during the outage and what
it left in Postgres, then restarts the server on the same port and shows that the same API
instance serves again without a restart.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol
from quart.wrappers import Response
from redis.asyncio import Redis
from sqlalchemy import func, select
from temporalio.client import Client

from api.app import create_app
from devstack.redis import start_redis
from devstack.service import Service
from devstack.temporal import start_temporal_dev_server
from domain.config import Settings
from domain.models import ActivationToken, RefreshToken, User
from tests.conftest import Stack, app_client
from tests.support import (
    PASSWORD,
    activate_link,
    activation_link,
    bearer,
    link_query,
    login,
    new_email,
    register,
    register_and_activate,
    wait_for_mail,
)
from worker import build_activities, build_worker

# An answer during an outage must come within this, however the dependency fails. (The Temporal
# client retries an unreachable server for about 10 s before it gives up.)
BOUND_SECONDS = 20.0
# A Redis that stops answering is given up on after the API's socket timeout (2 s; redis-py's own
# default would be 5 s, older ones wait forever).
FROZEN_BOUND_SECONDS = 3.5


async def answer(call: Awaitable[Response]) -> tuple[int, Any, float]:
    """Status, JSON body and seconds taken; fails the test if no answer comes within the bound."""
    started = time.monotonic()
    response = await asyncio.wait_for(call, timeout=BOUND_SECONDS)
    return response.status_code, await response.get_json(), time.monotonic() - started


def assert_unavailable(outcome: tuple[int, Any, float], what: str) -> None:
    status, body, _ = outcome
    assert status == 503, (what, status, body)
    assert body["error"] == "service_unavailable", (what, body)


def kill(service: Service) -> None:
    """SIGKILL, as a crash or an OOM kill would; then let the handle clean up."""
    assert service.pid is not None
    os.killpg(service.pid, signal.SIGKILL)
    assert service.process is not None
    service.process.wait(timeout=10)
    service.stop()


async def user_row(stack: Stack, email: str) -> User | None:
    async with stack.sessions() as session:
        result = await session.execute(select(User).where(User.email == email))
        return result.scalar_one_or_none()


async def live_refresh_tokens(stack: Stack, user_id: int) -> int:
    async with stack.sessions() as session:
        query = select(func.count()).where(
            RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
        )
        return int((await session.execute(query)).scalar_one())


async def activation_token_hashes(stack: Stack, user_id: int) -> list[str]:
    async with stack.sessions() as session:
        query = select(ActivationToken.token_hash).where(ActivationToken.user_id == user_id)
        return list((await session.execute(query)).scalars())


# ----------------------------------------------------------------------------------------- redis


@pytest.mark.usefixtures("worker")
async def test_redis_killed_during_use_answers_503_then_recovers(
    stack: Stack, tmp_path: Path
) -> None:
    member, waiting, newcomer = new_email("member"), new_email("waiting"), new_email("new")
    redis = start_redis(tmp_path / "redis")
    try:
        async with app_client(stack, redis_url=redis.url) as api:
            await register_and_activate(api, stack.mail, member)
            await register(api, waiting)
            [first_link] = await wait_for_mail(stack.mail, waiting, "Activate")
            access = bearer((await login(api, member))["access_token"])
            status, me, _ = await answer(api.get("/accounts/me/", headers=access))
            assert status == 200
            refresh_before = await live_refresh_tokens(stack, me["id"])
            waiting_user = await user_row(stack, waiting)
            assert waiting_user is not None
            links_before = await activation_token_hashes(stack, waiting_user.id)

            kill(redis)

            calls = {
                "register": api.post(
                    "/accounts/register/", json={"email": newcomer, "password": PASSWORD}
                ),
                "resend": api.post("/accounts/resend-activation/", json={"email": waiting}),
                "login": api.post("/accounts/login/", json={"email": member, "password": PASSWORD}),
                "logout": api.post("/accounts/logout/", headers=access),
                "me": api.get("/accounts/me/", headers=access),
            }
            for what, call in calls.items():
                assert_unavailable(await answer(call), what)
            ready = await api.get("/health/ready")
            assert (ready.status_code, (await ready.get_json())["down"]) == (503, ["redis"])

            # Nothing half-written: no account for the newcomer, the waiting account keeps its
            # one link.
            # A start that died with the server may or may not have reached it: the newcomer's
            # row is gone, or kept inactive (registering again with the same password resumes).
            newcomer_row = await user_row(stack, newcomer)
            assert newcomer_row is None or not newcomer_row.is_active
            assert await activation_token_hashes(stack, waiting_user.id) == links_before

            redis = start_redis(tmp_path / "redis", port=redis.port)

            # The same API instance serves again. The logout was refused, so the token still
            # works; a logout now denies it at once.
            assert (await answer(api.get("/accounts/me/", headers=access)))[0] == 200
            assert (await answer(api.post("/accounts/logout/", headers=access)))[0] == 200
            assert (await answer(api.get("/accounts/me/", headers=access)))[0] == 401
            assert await live_refresh_tokens(stack, me["id"]) == refresh_before - 1
            relogin = api.post("/accounts/login/", json={"email": member, "password": PASSWORD})
            assert (await answer(relogin))[0] == 200
            await register_and_activate(api, stack.mail, newcomer)
            resend = api.post("/accounts/resend-activation/", json={"email": waiting})
            assert (await answer(resend))[0] == 202
            [_, second_link] = await wait_for_mail(stack.mail, waiting, "Activate", count=2)
            assert link_query(activation_link(second_link)) != link_query(
                activation_link(first_link)
            )
    finally:
        redis.stop()


@pytest.mark.usefixtures("worker")
async def test_frozen_redis_answers_503_within_the_socket_timeout(
    stack: Stack, tmp_path: Path
) -> None:
    """A Redis that hangs (stopped, or a network that drops packets) sends no reset: only the
    client's socket timeout stands between a request and a hang."""
    member = new_email("member")
    redis = start_redis(tmp_path / "redis")
    try:
        async with app_client(stack, redis_url=redis.url) as api:
            await register_and_activate(api, stack.mail, member)
            access = bearer((await login(api, member))["access_token"])
            assert redis.pid is not None
            os.kill(redis.pid, signal.SIGSTOP)
            try:
                for what, call in {
                    "me": api.get("/accounts/me/", headers=access),
                    "login": api.post(
                        "/accounts/login/", json={"email": member, "password": PASSWORD}
                    ),
                }.items():
                    outcome = await answer(call)
                    assert_unavailable(outcome, what)
                    assert outcome[2] < FROZEN_BOUND_SECONDS, (what, outcome[2])
            finally:
                os.kill(redis.pid, signal.SIGCONT)
            assert (await answer(api.get("/accounts/me/", headers=access)))[0] == 200
    finally:
        redis.stop()


@pytest.mark.usefixtures("worker")
async def test_logout_that_cannot_deny_the_token_answers_503_and_changes_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    """Redis answers reads but not writes (CLIENT PAUSE WRITE, as during a failover): the
    token check passes, the deny-list write cannot. A logout that answered 200 here would leave
    a token the user believes dead working for the rest of its life."""
    member = new_email("member")
    redis = start_redis(tmp_path / "redis")
    admin = Redis.from_url(redis.url)
    try:
        async with app_client(stack, redis_url=redis.url) as api:
            await register_and_activate(api, stack.mail, member)
            tokens = await login(api, member)
            access = bearer(tokens["access_token"])
            status, me, _ = await answer(api.get("/accounts/me/", headers=access))
            assert status == 200
            refresh_before = await live_refresh_tokens(stack, me["id"])

            await admin.execute_command("CLIENT", "PAUSE", 30_000, "WRITE")
            try:
                logout = api.post(
                    "/accounts/logout/",
                    headers=access,
                    json={"refresh_token": tokens["refresh_token"]},
                )
                assert_unavailable(await answer(logout), "logout")
            finally:
                await admin.execute_command("CLIENT", "UNPAUSE")

            # The token was not denied, and the client was told so: logging out again works.
            assert (await answer(api.get("/accounts/me/", headers=access)))[0] == 200
            assert (await answer(api.post("/accounts/logout/", headers=access)))[0] == 200
            assert (await answer(api.get("/accounts/me/", headers=access)))[0] == 401
            assert await live_refresh_tokens(stack, me["id"]) == refresh_before - 1
            spent = api.post("/accounts/refresh/", json={"refresh_token": tokens["refresh_token"]})
            assert (await answer(spent))[0] == 401
    finally:
        await admin.aclose()
        redis.stop()


# -------------------------------------------------------------------------------------- temporal


@asynccontextmanager
async def api_connecting_itself(settings: Settings) -> AsyncIterator[TestClientProtocol]:
    """An API instance that makes its own Temporal client on first use, as in production."""
    app = create_app(settings)
    async with app.test_app() as test_app:
        yield test_app.test_client()


async def test_temporal_killed_during_use_answers_503_then_recovers(
    stack: Stack, tmp_path: Path
) -> None:
    state = tmp_path / "temporal"  # the dev server keeps its history in state/temporal.db
    temporal = await asyncio.to_thread(
        start_temporal_dev_server, state, headless=True, persist=True
    )
    try:
        settings = stack.with_overrides(
            temporal_address=temporal.address, temporal_task_queue=f"outage-{uuid.uuid4().hex[:8]}"
        )
        worker_client = await Client.connect(temporal.address)
        worker = build_worker(worker_client, settings, build_activities(settings, stack.sessions))
        member, waiting, newcomer = new_email("member"), new_email("waiting"), new_email("new")
        async with worker, api_connecting_itself(settings) as api:
            await register_and_activate(api, stack.mail, member)
            await register(api, waiting)
            [link_mail] = await wait_for_mail(stack.mail, waiting, "Activate")
            link = activation_link(link_mail)
            waiting_user = await user_row(stack, waiting)
            assert waiting_user is not None
            links_before = await activation_token_hashes(stack, waiting_user.id)

            kill(temporal)

            # Everything that needs a workflow answers 503; sessions need no workflow and go on,
            # sent while the calls that need Temporal are still waiting on it.
            needs_temporal = {
                "register": api.post(
                    "/accounts/register/", json={"email": newcomer, "password": PASSWORD}
                ),
                "register an existing email": api.post(
                    "/accounts/register/", json={"email": member, "password": PASSWORD}
                ),
                "resend": api.post("/accounts/resend-activation/", json={"email": waiting}),
                "activate": activate_link(api, link),
            }
            outage = asyncio.gather(*(answer(call) for call in needs_temporal.values()))
            ready = await api.get("/health/ready")
            assert (ready.status_code, (await ready.get_json())["down"]) == (503, ["temporal"])
            signed_in = api.post("/accounts/login/", json={"email": member, "password": PASSWORD})
            status, tokens, _ = await answer(signed_in)
            assert status == 200
            access = bearer(tokens["access_token"])
            assert (await answer(api.get("/accounts/me/", headers=access)))[0] == 200
            logout = api.post(
                "/accounts/logout/", headers=access, json={"refresh_token": tokens["refresh_token"]}
            )
            assert (await answer(logout))[0] == 200
            assert (await answer(api.get("/accounts/me/", headers=access)))[0] == 401
            for what, outcome in zip(needs_temporal, await outage, strict=True):
                assert_unavailable(outcome, what)

            # Nothing half-written: no account without its workflow, the waiting account is
            # still inactive with the same single link (no resend, nothing consumed).
            # A start that died with the server may or may not have reached it: the newcomer's
            # row is gone, or kept inactive (registering again with the same password resumes).
            newcomer_row = await user_row(stack, newcomer)
            assert newcomer_row is None or not newcomer_row.is_active
            still_waiting = await user_row(stack, waiting)
            assert still_waiting is not None and not still_waiting.is_active
            assert await activation_token_hashes(stack, waiting_user.id) == links_before

            temporal = await asyncio.to_thread(
                start_temporal_dev_server,
                state,
                port=temporal.port,
                headless=True,
                persist=True,
            )

            # The same API instance (and worker) carry on. The run started before the outage
            # survived it, so the link emailed before the outage still activates.
            activated = await answer(activate_link(api, link))
            assert activated[0] == 200, activated
            still_waiting = await user_row(stack, waiting)
            assert still_waiting is not None and still_waiting.is_active
            await register_and_activate(api, stack.mail, newcomer)
    finally:
        temporal.stop()
