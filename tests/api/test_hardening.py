"""Session revocation, token-subject checks, security headers, redirects and the docs switch."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from html.parser import HTMLParser
from typing import Any

import jwt
import pytest
from quart.typing import TestClientProtocol

from tests.conftest import Stack, app_client
from tests.support import PASSWORD, bearer, login, new_email, register_and_activate


async def _me(client: TestClientProtocol, access: str) -> tuple[int, str | None]:
    response = await client.get("/accounts/me/", headers=bearer(access))
    return response.status_code, (await response.get_json()).get("error")


async def test_logout_stops_every_access_token_of_the_session(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    first = await login(client, email)
    refreshed = await client.post(
        "/accounts/refresh/", json={"refresh_token": first["refresh_token"]}
    )
    assert refreshed.status_code == 200
    second = await refreshed.get_json()
    other_device = await login(client, email)

    out = await client.post("/accounts/logout/", headers=bearer(second["access_token"]))
    assert out.status_code == 200
    # The access token issued before the refresh belongs to the same session: stopped too.
    assert await _me(client, first["access_token"]) == (401, "token_revoked")
    assert await _me(client, second["access_token"]) == (401, "token_revoked")
    assert (await _me(client, other_device["access_token"]))[0] == 200


async def test_refresh_token_reuse_stops_the_sessions_live_access_token(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    first = await login(client, email)
    rotated = await client.post(
        "/accounts/refresh/", json={"refresh_token": first["refresh_token"]}
    )
    current = await rotated.get_json()
    reuse = await client.post("/accounts/refresh/", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert await _me(client, current["access_token"]) == (401, "token_revoked")


def _forged(stack: Stack, sub: Any) -> str:
    settings = stack.settings
    now = int(time.time())
    payload = {
        "sub": sub,
        "typ": "access",
        "jti": "x",
        "sid": "s",
        "iat": now,
        "exp": now + 300,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    return jwt.encode(payload, settings.jwt_secret.get_secret_value(), algorithm="HS256")


@pytest.mark.parametrize("sub", [str(2**63), str(2**70), "-5", "0", "abc", "\uff11\uff12", " 7"])
async def test_a_signed_token_with_a_bad_subject_is_401(
    client: TestClientProtocol, stack: Stack, sub: str
) -> None:
    status, error = await _me(client, _forged(stack, sub))
    assert status == 401, (sub, error)


async def test_security_headers_everywhere_and_no_store_on_tokens(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    response = await client.post("/accounts/login/", json={"email": email, "password": PASSWORD})
    tokens = await response.get_json()
    refreshed = await client.post(
        "/accounts/refresh/", json={"refresh_token": tokens.get("refresh_token", "x")}
    )
    for answer in (response, refreshed):
        assert answer.headers["Cache-Control"] == "no-store"
    for answer in (
        response,
        refreshed,
        await client.get("/accounts/me/"),
        await client.get("/nope"),
    ):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"]


class _InlineScripts(HTMLParser):
    """The text of every inline `<script>` (one without `src`) of a page, as served."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self._current: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and "src" not in dict(attrs):
            self._current = []

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._current is not None:
            self.scripts.append("".join(self._current))
            self._current = None


async def test_docs_page_has_a_csp_that_allows_its_own_assets(client: TestClientProtocol) -> None:
    page = await client.get("/docs")
    csp = page.headers["Content-Security-Policy"]
    parser = _InlineScripts()
    parser.feed(await page.get_data(as_text=True))
    assert parser.scripts, "the docs page has its inline bootstrap script"
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in parser.scripts
    ]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    # Our own files and exactly the page's inline scripts: no other script, no unsafe-inline.
    assert directives["script-src"] == " ".join(["'self'", *hashes]), csp
    assert directives["frame-ancestors"] == "'none'"


async def test_trailing_slash_redirect_does_not_echo_the_host(client: TestClientProtocol) -> None:
    response = await client.get("/accounts/me", headers={"Host": "evil.example"})
    assert response.status_code in (301, 308)
    assert "evil.example" not in response.headers["Location"]
    assert response.headers["Location"] == "/accounts/me/"


async def test_docs_can_be_switched_off(stack: Stack) -> None:
    async with app_client(stack, api_docs_enabled=False) as off:
        assert (await off.get("/docs")).status_code == 404
        assert (await off.get("/openapi.json")).status_code == 404
        assert (await off.get("/docs/assets/swagger-ui.css")).status_code == 404


async def test_a_strangers_wrong_passwords_do_not_lock_the_owner_out(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    async with app_client(stack, rate_limit_login=3, trusted_proxy_hops=1) as limited:
        stranger = {"X-Forwarded-For": f"198.51.100.{secrets.randbelow(250)}"}
        owner = {"X-Forwarded-For": f"203.0.113.{secrets.randbelow(250)}"}
        statuses = []
        for _ in range(10):
            response = await limited.post(
                "/accounts/login/",
                json={"email": email, "password": "Wr0ng$pass"},
                headers=stranger,
            )
            statuses.append(response.status_code)
        assert statuses[:3] == [401, 401, 401]
        assert set(statuses[3:]) == {429}, statuses  # the stranger is throttled
        # The owner, from their own client, still gets in with the right password.
        ok = await limited.post(
            "/accounts/login/", json={"email": email, "password": PASSWORD}, headers=owner
        )
        assert ok.status_code == 200, await ok.get_data(as_text=True)
