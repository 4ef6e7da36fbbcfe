"""Session promises a user relies on: revocation marks, logout and its deny-list entry.

Each test goes through HTTP and checks the real state behind the answer (Postgres rows, Redis
keys), so it holds whatever module the handlers and queries live in.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from quart.typing import TestClientProtocol
from redis.asyncio import Redis
from sqlalchemy import text

from domain.security import TokenService
from tests.conftest import Stack
from tests.support import bearer, login, new_email, register_and_activate


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def _error_of(response: Any) -> tuple[int, str | None]:
    return response.status_code, (await response.get_json()).get("error")


async def _refresh(client: TestClientProtocol, refresh_token: str) -> Any:
    return await client.post("/accounts/refresh/", json={"refresh_token": refresh_token})


async def _revoked_families(stack: Stack, email: str) -> dict[str, bool]:
    """{family id: every refresh token of it revoked} for this user, from Postgres."""
    async with stack.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT r.family_id, bool_and(r.revoked_at IS NOT NULL) FROM refresh_tokens r "
                "JOIN users u ON u.id = r.user_id WHERE u.email = :email GROUP BY r.family_id"
            ),
            {"email": email},
        )
        return {str(family): bool(revoked) for family, revoked in rows}


async def test_tokens_issued_before_tokens_valid_after_are_refused(
    client: TestClientProtocol, stack: Stack
) -> None:
    """users.tokens_valid_after is the revocation mark a password change (or an operator) sets:
    every access and refresh token issued before it stops working at once."""
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    before = await login(client, email)
    mark = datetime.fromtimestamp(_claims(before["access_token"])["iat"], UTC) + timedelta(
        seconds=1
    )
    async with stack.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE users SET tokens_valid_after = :mark WHERE email = :email"),
            {"mark": mark, "email": email},
        )

    me = await client.get("/accounts/me/", headers=bearer(before["access_token"]))
    assert await _error_of(me) == (401, "token_revoked")
    assert await _error_of(await _refresh(client, before["refresh_token"])) == (
        401,
        "token_revoked",
    )

    # The mark refuses older tokens, not the user: a login at or after it works.
    deadline = time.monotonic() + 10
    after = await login(client, email)
    while _claims(after["access_token"])["iat"] < mark.timestamp():
        assert time.monotonic() < deadline, "no login was issued after the mark"
        await asyncio.sleep(0.1)
        after = await login(client, email)
    me = await client.get("/accounts/me/", headers=bearer(after["access_token"]))
    assert me.status_code == 200
    assert (await _refresh(client, after["refresh_token"])).status_code == 200


async def test_logout_denies_the_access_token_for_its_whole_remaining_life(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    tokens = await login(client, email)
    claims = _claims(tokens["access_token"])
    response = await client.post("/accounts/logout/", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    remaining = claims["exp"] - time.time()
    assert remaining > 60, "the suite's access tokens live long enough to tell the difference"

    # The deny-list entry (in Redis, shared by every API process) that refuses the token is the
    # session's (every access token of this login), and it outlives the token itself.
    assert await _deny_ttls(stack, claims) == {"sid": pytest.approx(remaining, abs=3)}

    me = await client.get("/accounts/me/", headers=bearer(tokens["access_token"]))
    assert await _error_of(me) == (401, "token_revoked")


async def _deny_ttls(stack: Stack, claims: dict[str, Any]) -> dict[str, int]:
    """{"jti" or "sid": seconds to live} of the Redis deny entries naming this access token's
    jti or its session."""
    redis = Redis.from_url(stack.settings.redis_url, decode_responses=True)
    try:
        ttls = {}
        for claim in ("jti", "sid"):
            keys = [key async for key in redis.scan_iter(match=f"auth:deny*:{claims[claim]}")]
            assert len(keys) <= 1, keys
            if keys:
                ttls[claim] = await redis.ttl(keys[0])
        return ttls
    finally:
        await redis.aclose()


async def test_logout_denies_a_token_longer_lived_than_the_current_setting_for_its_whole_life(
    client: TestClientProtocol, stack: Stack
) -> None:
    """A token issued while the access lifetime was longer (before a deploy shortened it) is
    refused after logout for as long as it would have worked, not only for the new lifetime."""
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    tokens = await login(client, email)
    session_id = _claims(tokens["access_token"])["sid"]
    longer = stack.settings.access_token_ttl_seconds + 3600
    old_settings = stack.settings.model_copy(update={"access_token_ttl_seconds": longer})
    old = TokenService(old_settings).issue(
        int(_claims(tokens["access_token"])["sub"]), "access", session_id
    )
    remaining = old.claims.expires_at.timestamp() - time.time()

    response = await client.post("/accounts/logout/", headers=bearer(old.token))
    assert response.status_code == 200
    assert await _deny_ttls(stack, _claims(old.token)) == {"sid": pytest.approx(remaining, abs=3)}
    me = await client.get("/accounts/me/", headers=bearer(old.token))
    assert await _error_of(me) == (401, "token_revoked")


async def test_logout_revokes_the_callers_other_login_sent_in_the_body(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    phone, laptop = await login(client, email), await login(client, email)

    response = await client.post(
        "/accounts/logout/",
        headers=bearer(phone["access_token"]),
        json={"refresh_token": laptop["refresh_token"]},
    )
    assert response.status_code == 200

    for device in (phone, laptop):
        assert (await _refresh(client, device["refresh_token"])).status_code == 401
    families = {_claims(t["refresh_token"])["sid"] for t in (phone, laptop)}
    assert await _revoked_families(stack, email) == dict.fromkeys(families, True)


async def test_logout_with_someone_elses_refresh_token_revokes_nothing_of_theirs(
    client: TestClientProtocol, stack: Stack
) -> None:
    alice, mallory = new_email("alice"), new_email("mallory")
    await register_and_activate(client, stack.mail, alice)
    await register_and_activate(client, stack.mail, mallory)
    alice_tokens, mallory_tokens = await login(client, alice), await login(client, mallory)

    response = await client.post(
        "/accounts/logout/",
        headers=bearer(mallory_tokens["access_token"]),
        json={"refresh_token": alice_tokens["refresh_token"]},
    )
    assert response.status_code == 200

    alice_family = _claims(alice_tokens["refresh_token"])["sid"]
    assert await _revoked_families(stack, alice) == {alice_family: False}
    assert (await _refresh(client, alice_tokens["refresh_token"])).status_code == 200
    mallory_family = _claims(mallory_tokens["refresh_token"])["sid"]
    assert await _revoked_families(stack, mallory) == {mallory_family: True}


async def test_refresh_token_reuse_ends_the_sessions_access_tokens_too(
    client: TestClientProtocol, stack: Stack
) -> None:
    """A spent refresh token sent again ends the whole login: the access tokens issued to it
    (the thief's and the rightful holder's) are refused at once, not only its refresh tokens.
    Another login of the same user is untouched."""
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    first, other_device = await login(client, email), await login(client, email)
    second = await (await _refresh(client, first["refresh_token"])).get_json()

    assert await _error_of(await _refresh(client, first["refresh_token"])) == (
        401,
        "refresh_token_reused",
    )
    for tokens in (first, second):
        me = await client.get("/accounts/me/", headers=bearer(tokens["access_token"]))
        assert await _error_of(me) == (401, "token_revoked")
    me = await client.get("/accounts/me/", headers=bearer(other_device["access_token"]))
    assert me.status_code == 200
