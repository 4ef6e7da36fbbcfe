"""No enumeration, rate limits, dependency outages, health, operator bootstrap."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from typing import Any

import asyncpg
import pytest
from quart import Quart
from quart.typing import TestClientProtocol
from sqlalchemy import text
from sqlalchemy.engine import make_url

import cli
from api.app import create_app
from api.services import EXTENSION_KEY, Services
from domain.config import Settings
from tests.conftest import Stack, app_client
from tests.support import (
    PASSWORD,
    activation_link,
    bearer,
    link_query,
    login,
    new_email,
    register,
    register_and_activate,
    wait_for_mail,
)


def services_of(app: Quart) -> Services:
    svc: Services = app.extensions[EXTENSION_KEY]
    return svc


def _own_address() -> dict[str, Any]:
    """A client address of its own, so counters from other tests don't count here."""
    return {
        "scope_base": {"client": (f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.7", 40000)}
    }


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _answer(response: Any) -> tuple[int, Any]:
    return response.status_code, await response.get_json()


async def test_register_answers_the_same_for_new_and_existing_emails(
    client: TestClientProtocol, stack: Stack
) -> None:
    taken = new_email()
    await register_and_activate(client, stack.mail, taken)
    fresh = new_email()
    a = await client.post("/accounts/register/", json={"email": taken, "password": PASSWORD})
    b = await client.post("/accounts/register/", json={"email": fresh, "password": PASSWORD})
    status_a, body_a = await _answer(a)
    status_b, body_b = await _answer(b)
    assert status_a == status_b == 202
    assert body_a == {**body_b, "email": taken}  # only the echo of what was sent differs
    assert "id" not in body_a


async def test_resend_answers_the_same_for_unknown_active_and_inactive(
    client: TestClientProtocol, stack: Stack
) -> None:
    active, inactive = new_email(), new_email()
    await register_and_activate(client, stack.mail, active)
    await register(client, inactive)
    answers = [
        await _answer(await client.post("/accounts/resend-activation/", json={"email": e}))
        for e in (active, inactive, new_email())
    ]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 202


async def test_login_rate_limit_answers_429_with_retry_after(stack: Stack) -> None:
    email = new_email()
    async with app_client(stack, rate_limit_login=3) as limited:
        addr = _own_address()
        statuses = []
        for _ in range(4):
            response = await limited.post(
                "/accounts/login/", json={"email": email, "password": "Wr0ng$pass"}, **addr
            )
            statuses.append(response.status_code)
        assert statuses == [401, 401, 401, 429]
        assert (
            0
            < int(response.headers["Retry-After"])
            <= stack.settings.rate_limit_login_window_seconds
        )
        assert (await response.get_json())["error"] == "rate_limited"
        # Another email is not affected by this one's counter.
        other = await limited.post(
            "/accounts/login/", json={"email": new_email(), "password": "x"}, **addr
        )
        assert other.status_code == 401


async def test_register_and_resend_rate_limits(stack: Stack) -> None:
    async with app_client(stack, rate_limit_register=1, rate_limit_resend=1) as limited:
        addr = _own_address()
        email = new_email()
        first = await limited.post(
            "/accounts/register/", json={"email": email, "password": PASSWORD}, **addr
        )
        second = await limited.post(
            "/accounts/register/", json={"email": email, "password": PASSWORD}, **addr
        )
        assert (first.status_code, second.status_code) == (202, 429)
        assert "Retry-After" in second.headers
        r1 = await limited.post("/accounts/resend-activation/", json={"email": email}, **addr)
        r2 = await limited.post("/accounts/resend-activation/", json={"email": email}, **addr)
        assert (r1.status_code, r2.status_code) == (202, 429)


async def test_redis_down_answers_503_not_500(client: TestClientProtocol, stack: Stack) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    tokens = await login(client, email)
    async with app_client(stack, redis_url=f"redis://127.0.0.1:{_closed_port()}/0") as broken:
        response = await broken.get("/accounts/me/", headers=bearer(tokens["access_token"]))
        assert response.status_code == 503
        assert (await response.get_json())["error"] == "service_unavailable"
        response = await broken.post(
            "/accounts/login/", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 503
        ready = await broken.get("/health/ready")
        assert ready.status_code == 503
        assert (await ready.get_json())["down"] == ["redis"]


async def test_database_down_answers_503(stack: Stack) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/nothing"
    async with app_client(stack, database_url=url) as broken:
        response = await broken.post(
            "/accounts/login/", json={"email": new_email(), "password": PASSWORD}
        )
        assert response.status_code == 503
        assert (await response.get_json())["error"] == "service_unavailable"
        ready = await broken.get("/health/ready")
        assert (await ready.get_json())["down"] == ["postgres"]


async def test_temporal_down_register_answers_503_and_leaves_no_account(stack: Stack) -> None:
    email = new_email()
    settings = stack.with_overrides(temporal_address=f"127.0.0.1:{_closed_port()}")
    app = create_app(settings)  # no client handed in: it must connect, and cannot
    async with app.test_app() as test_app:
        broken = test_app.test_client()
        response = await broken.post(
            "/accounts/register/", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 503
        ready = await broken.get("/health/ready")
        assert (await ready.get_json())["down"] == ["temporal"]
    # No half-written state: the user row written before the failed start was removed ...
    async with stack.sessions() as session:
        users = await session.execute(
            text("SELECT count(*) FROM users WHERE email = :email"), {"email": email}
        )
        assert users.scalar_one() == 0
    async with app_client(stack) as healthy:
        # ... so registering again is a new account (an activation email, not a notice).
        response = await healthy.post(
            "/accounts/register/", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 202
    [mail] = await wait_for_mail(stack.mail, email, "Activate")
    assert link_query(activation_link(mail))["email"] == email


async def test_health(client: TestClientProtocol) -> None:
    live = await client.get("/health/live")
    assert (live.status_code, await live.get_json()) == (200, {"status": "ok"})
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert (await ready.get_json())["checks"] == {"postgres": "ok", "redis": "ok", "temporal": "ok"}


async def test_openapi_documents_the_accounts_contract(client: TestClientProtocol) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    paths = spec["paths"]
    for path in ("/accounts/register/", "/accounts/login/", "/accounts/refresh/", "/accounts/me/"):
        assert path in paths
    assert "422" in paths["/accounts/register/"]["post"]["responses"]
    assert "429" in paths["/accounts/login/"]["post"]["responses"]
    assert (await client.get("/docs")).status_code == 200


async def test_cli_create_admin(
    client: TestClientProtocol, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = new_email("admin")
    for name, value in {
        "DATABASE_URL": stack.settings.database_url,
        "ENVIRONMENT": "development",
        "CINEMA_ADMIN_PASSWORD": "Adm1n$ecret",
    }.items():
        monkeypatch.setenv(name, value)

    code = await asyncio.to_thread(cli.main, ["create-admin", "--email", email.upper()])
    assert code == 0
    tokens = await login(client, email, "Adm1n$ecret")
    me = await (
        await client.get("/accounts/me/", headers=bearer(tokens["access_token"]))
    ).get_json()
    assert (me["group"], me["is_active"]) == ("ADMIN", True)


def test_cli_refuses_weak_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CINEMA_ADMIN_PASSWORD", "weak")
    assert cli.main(["create-admin", "--email", new_email()]) == 2


def test_placeholder_secrets_are_refused_outside_development() -> None:
    with pytest.raises(ValueError, match="JWT_SECRET"):
        Settings(_env_file=None, environment="production")
    Settings(_env_file=None, environment="development")


async def test_register_and_resend_take_at_least_the_floor_either_way(stack: Stack) -> None:
    """Known and unknown emails cannot be told apart by response time below the floor."""
    taken = new_email()
    async with app_client(stack, anti_enumeration_floor_seconds=0.4) as api:
        await register(api, taken)
        for path, email in (
            ("/accounts/register/", taken),
            ("/accounts/register/", new_email()),
            ("/accounts/resend-activation/", taken),
            ("/accounts/resend-activation/", new_email()),
        ):
            body: dict[str, str] = {"email": email}
            if path.endswith("register/"):
                body["password"] = PASSWORD
            started = time.monotonic()
            response = await api.post(path, json=body)
            assert response.status_code == 202
            assert time.monotonic() - started >= 0.4


@pytest.mark.usefixtures("worker")
async def test_postgres_dropping_connections_is_survived(stack: Stack) -> None:
    """Like a Postgres restart: every pooled connection of the API dies. Requests answer 503 at
    worst, never 500, and the API serves again on its own (the stale pool is thrown away)."""
    email = new_email()
    app = create_app(stack.settings, temporal_client=stack.client)
    async with app.test_app() as test_app:
        api = test_app.test_client()
        await register_and_activate(api, stack.mail, email)
        tokens = await login(api, email)
        # Fill the API's pool with a few connections and note their server processes.
        engine = services_of(app).engine
        connections = [await engine.connect() for _ in range(4)]
        pids = [
            (await c.execute(text("SELECT pg_backend_pid()"))).scalar_one() for c in connections
        ]
        for connection in connections:
            await connection.close()
        # From outside the pool, kill exactly this API's pooled connections.
        dsn = make_url(stack.settings.database_url).set(drivername="postgresql")
        admin = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids
            )
        finally:
            await admin.close()
        statuses = []
        for _ in range(4):
            response = await api.get("/accounts/me/", headers=bearer(tokens["access_token"]))
            statuses.append(response.status_code)
            assert response.status_code in (200, 503), await response.get_data(as_text=True)
        # At most the first request fails: the disconnect throws the whole stale pool away.
        assert statuses[1:] == [200, 200, 200], statuses
        login_again = await api.post(
            "/accounts/login/", json={"email": email, "password": PASSWORD}
        )
        assert login_again.status_code == 200
