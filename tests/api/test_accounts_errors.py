"""Every bad input gets a clear 4xx JSON error, never a 500, never an echoed password."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from quart.typing import TestClientProtocol

from domain.security import TokenService
from tests.conftest import Stack
from tests.support import PASSWORD, bearer, login, new_email, register_and_activate


async def _error(response: Any, status: int) -> Any:
    assert response.status_code == status, await response.get_data(as_text=True)
    body = await response.get_json()
    assert set(body) >= {"error", "detail"}
    assert isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.mark.parametrize("path", ["/accounts/register/", "/accounts/login/", "/accounts/refresh/"])
async def test_malformed_json_is_400(client: TestClientProtocol, path: str) -> None:
    for raw in (b"{not json", b"\xff\xfe\x00", b""):
        response = await client.post(path, data=raw, headers={"Content-Type": "application/json"})
        assert (await _error(response, 400))["error"] == "malformed_json"


async def test_body_that_is_not_json_is_400(client: TestClientProtocol) -> None:
    response = await client.post(
        "/accounts/login/", data=b"email=a", headers={"Content-Type": "text/plain"}
    )
    assert (await _error(response, 400))["error"] == "invalid_body"


async def test_json_that_is_not_an_object_is_422(client: TestClientProtocol) -> None:
    response = await client.post("/accounts/login/", json=["a", "b"])
    assert (await _error(response, 422))["error"] == "validation_error"


async def test_missing_fields_are_named(client: TestClientProtocol) -> None:
    body = await _error(await client.post("/accounts/register/", json={}), 422)
    assert {tuple(f["loc"]) for f in body["fields"]} == {("body", "email"), ("body", "password")}


async def test_unknown_fields_are_refused(client: TestClientProtocol) -> None:
    """Mass assignment: a client cannot set is_active or its group."""
    response = await client.post(
        "/accounts/register/",
        json={"email": new_email(), "password": PASSWORD, "is_active": True, "group": "ADMIN"},
    )
    body = await _error(response, 422)
    assert {f["loc"][-1] for f in body["fields"]} == {"is_active", "group"}


@pytest.mark.parametrize(
    "password",
    [
        "short1A!",  # fine: control value, 8 chars
        "alllowercase1!",
        "ALLUPPERCASE1!",
        "NoDigitsHere!",
        "NoSpecials123",
        "Aa1#aaaaaa",  # '#' is not one of the accepted specials
        "Aa1!" + "a" * 125,  # 129 characters: over the cap
        "Aa1!aaa",  # 7 characters
    ],
)
async def test_weak_or_oversized_password_is_422_and_never_echoed(
    client: TestClientProtocol, password: str
) -> None:
    response = await client.post(
        "/accounts/register/", json={"email": new_email(), "password": password}
    )
    if password == "short1A!":
        assert response.status_code == 202
        return
    body = await _error(response, 422)
    assert body["fields"][0]["loc"] == ["body", "password"]
    assert password not in json.dumps(body)


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "a@", "@example.com", "a b@example.com", "x" * 250 + "@ex.com", 42, None],
)
async def test_bad_email_is_422(client: TestClientProtocol, email: object) -> None:
    response = await client.post("/accounts/register/", json={"email": email, "password": PASSWORD})
    body = await _error(response, 422)
    assert body["fields"][0]["loc"] == ["body", "email"]


async def test_login_errors_do_not_reveal_the_password_policy(client: TestClientProtocol) -> None:
    response = await client.post("/accounts/login/", json={"email": new_email(), "password": "x"})
    body = await _error(response, 401)
    assert body["error"] == "invalid_credentials"
    response = await client.post(
        "/accounts/login/", json={"email": new_email(), "password": "p" * 129}
    )
    body = await _error(response, 422)
    assert "p" * 129 not in json.dumps(body)


async def test_wrong_password_and_unknown_email_look_the_same(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    wrong = await client.post("/accounts/login/", json={"email": email, "password": "Wr0ng$pass"})
    unknown = await client.post(
        "/accounts/login/", json={"email": new_email(), "password": "Wr0ng$pass"}
    )
    assert await _error(wrong, 401) == await _error(unknown, 401)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"token": ""},
        {"token": "short"},
        {"token": "a" * 200},
        {"token": "0" * 64, "email": "nope"},
    ],
)
async def test_bad_activation_requests_are_4xx(
    client: TestClientProtocol, body: dict[str, str]
) -> None:
    response = await client.post("/accounts/activate/", json=body)
    assert response.status_code in (400, 422)
    await _error(response, response.status_code)


async def test_unknown_activation_token_is_400(client: TestClientProtocol) -> None:
    response = await client.post("/accounts/activate/", json={"token": "0" * 64})
    assert (await _error(response, 400))["error"] == "invalid_activation_token"


class TestTokens:
    async def _tokens(self, client: TestClientProtocol, stack: Stack) -> dict[str, str]:
        email = new_email()
        await register_and_activate(client, stack.mail, email)
        return await login(client, email)

    async def test_missing_or_malformed_authorization(self, client: TestClientProtocol) -> None:
        assert (await _error(await client.get("/accounts/me/"), 401))[
            "error"
        ] == "not_authenticated"
        for header in ("Token abc", "Bearer", "Bearer a b", "Basic Zm9vOmJhcg=="):
            response = await client.get("/accounts/me/", headers={"Authorization": header})
            assert (await _error(response, 401))["error"] == "invalid_token"

    async def test_refresh_token_is_not_an_access_token(
        self, client: TestClientProtocol, stack: Stack
    ) -> None:
        tokens = await self._tokens(client, stack)
        response = await client.get("/accounts/me/", headers=bearer(tokens["refresh_token"]))
        assert (await _error(response, 401))["error"] == "invalid_token"
        response = await client.post(
            "/accounts/refresh/", json={"refresh_token": tokens["access_token"]}
        )
        assert (await _error(response, 401))["error"] == "invalid_token"

    async def test_swapped_algorithm_is_rejected(
        self, client: TestClientProtocol, stack: Stack
    ) -> None:
        tokens = await self._tokens(client, stack)
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        secret = stack.settings.jwt_secret.get_secret_value()
        hs512 = jwt.encode(claims, secret, algorithm="HS512")
        header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        for forged in (
            hs512,
            f"{header}.{payload}.",
            jwt.encode(claims, "other-secret-" * 4, algorithm="HS256"),
        ):
            response = await client.get("/accounts/me/", headers=bearer(forged))
            assert (await _error(response, 401))["error"] == "invalid_token"

    async def test_expired_access_token(self, client: TestClientProtocol, stack: Stack) -> None:
        email = new_email()
        await register_and_activate(client, stack.mail, email)
        me = await login(client, email)
        claims = jwt.decode(me["access_token"], options={"verify_signature": False})
        old = TokenService(stack.settings).issue(
            int(claims["sub"]), "access", claims["sid"], now=datetime.now(UTC) - timedelta(hours=2)
        )
        response = await client.get("/accounts/me/", headers=bearer(old.token))
        assert (await _error(response, 401))["error"] == "token_expired"

    async def test_wrong_audience_or_issuer(self, client: TestClientProtocol, stack: Stack) -> None:
        tokens = await self._tokens(client, stack)
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        secret = stack.settings.jwt_secret.get_secret_value()
        for change in ({"aud": "someone-else"}, {"iss": "evil"}):
            forged = jwt.encode({**claims, **change}, secret, algorithm="HS256")
            response = await client.get("/accounts/me/", headers=bearer(forged))
            assert (await _error(response, 401))["error"] == "invalid_token"

    async def test_garbage_refresh_token(self, client: TestClientProtocol) -> None:
        for token in ("garbage", "a.b.c", ""):
            response = await client.post("/accounts/refresh/", json={"refresh_token": token})
            assert response.status_code in (401, 422)
            await _error(response, response.status_code)


async def test_unknown_route_and_method_are_json(client: TestClientProtocol) -> None:
    assert (await _error(await client.get("/nope/"), 404))["error"] == "not_found"
    response = await client.get("/accounts/login/")
    assert (await _error(response, 405))["error"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


async def test_oversized_body_is_413(client: TestClientProtocol, stack: Stack) -> None:
    big = b'{"email": "' + b"a" * (stack.settings.max_request_bytes + 10) + b'"}'
    response = await client.post(
        "/accounts/login/", data=big, headers={"Content-Type": "application/json"}
    )
    assert (await _error(response, 413))["error"] == "payload_too_large"
