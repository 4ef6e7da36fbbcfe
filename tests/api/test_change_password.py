"""POST /accounts/change-password/: old password checked, register rules, other sessions end."""

from __future__ import annotations

import asyncio

import jwt
from quart import Response
from quart.typing import TestClientProtocol
from redis.asyncio import Redis
from sqlalchemy import text

from domain.accounts.sessions import revoke_user_sessions
from domain.db import transaction
from tests.conftest import Stack
from tests.support import PASSWORD, bearer, login, new_email, register_and_activate, wait_for_mail

NEW = "N3w$ecretPass"


async def _status(client: TestClientProtocol, access: str) -> int:
    return (await client.get("/accounts/me/", headers=bearer(access))).status_code


async def _change(client: TestClientProtocol, access: str, old: str, new: str) -> Response:
    return await client.post(
        "/accounts/change-password/",
        json={"old_password": old, "new_password": new},
        headers=bearer(access),
    )


async def test_change_password_ends_other_sessions_keeps_this_one_and_notifies(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    mine, other = await login(client, email), await login(client, email)
    response = await _change(client, mine["access_token"], PASSWORD, NEW)
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert await _status(client, mine["access_token"]) == 200
    assert await _status(client, other["access_token"]) == 401
    gone = await client.post("/accounts/refresh/", json={"refresh_token": other["refresh_token"]})
    assert gone.status_code == 401
    kept = await client.post("/accounts/refresh/", json={"refresh_token": mine["refresh_token"]})
    assert kept.status_code == 200
    old = await client.post("/accounts/login/", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    await login(client, email, NEW)
    [notice] = await wait_for_mail(stack.mail, email, "password was changed")
    assert NEW not in notice.as_string()


async def test_change_password_also_ends_a_session_whose_refresh_tokens_were_already_revoked(
    client: TestClientProtocol, stack: Stack
) -> None:
    """A session whose refresh tokens someone revoked in Postgres alone (an operator, or a
    revocation whose Redis write was lost) still has a live access token: a password change
    must end that too, not only the sessions it revokes itself."""
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    mine, other = await login(client, email), await login(client, email)
    other_family = jwt.decode(other["refresh_token"], options={"verify_signature": False})["sid"]
    async with transaction(stack.sessions) as session:
        await session.execute(
            text("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = :family"),
            {"family": other_family},
        )
    assert await _status(client, other["access_token"]) == 200  # not denied in Redis yet
    response = await _change(client, mine["access_token"], PASSWORD, NEW)
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert await _status(client, other["access_token"]) == 401
    assert await _status(client, mine["access_token"]) == 200


async def test_change_password_refuses_bad_input_and_changes_nothing(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    tokens = await login(client, email)
    auth = bearer(tokens["access_token"])
    cases = [
        ({"old_password": "Wr0ng$pass", "new_password": NEW}, 400),
        ({"old_password": PASSWORD, "new_password": "Aa1!"}, 422),  # W7: too short for login
        ({"old_password": PASSWORD, "new_password": "Aa1!" + "x" * 130}, 422),  # too long
        ({"old_password": PASSWORD, "new_password": "alllowercase1!"}, 422),
        ({"old_password": PASSWORD}, 422),
    ]
    for body, status in cases:
        response = await client.post("/accounts/change-password/", json=body, headers=auth)
        assert response.status_code == status, (body, await response.get_data(as_text=True))
        assert "error" in await response.get_json()
    anonymous = await client.post(
        "/accounts/change-password/", json={"old_password": PASSWORD, "new_password": NEW}
    )
    assert anonymous.status_code == 401
    await login(client, email)  # the password is unchanged
    assert await _status(client, tokens["access_token"]) == 200


async def test_the_current_password_as_the_new_one_is_409_and_changes_nothing(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    mine, other = await login(client, email), await login(client, email)
    same = await _change(client, mine["access_token"], PASSWORD, PASSWORD)
    assert same.status_code == 409, await same.get_data(as_text=True)
    body = await same.get_json()
    assert body["error"] == "password_unchanged"
    assert PASSWORD not in await same.get_data(as_text=True)
    # Nothing happened: the other session lives on and the password still logs in.
    assert await _status(client, other["access_token"]) == 200
    again = await client.post("/accounts/refresh/", json={"refresh_token": other["refresh_token"]})
    assert again.status_code == 200
    await login(client, email)


async def test_two_concurrent_changes_from_the_same_old_password_one_wins(
    client: TestClientProtocol, stack: Stack
) -> None:
    """Both check the old password before either stores its hash; the hash is replaced only
    if it is still the one checked, so the second is told the old password no longer holds."""
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    first, second = await login(client, email), await login(client, email)
    candidates = {"N3w$ecretOne": first, "N3w$ecretTwo": second}
    responses = await asyncio.gather(
        *(
            _change(client, tokens["access_token"], PASSWORD, new)
            for new, tokens in candidates.items()
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 400], statuses
    [winner] = [new for new, r in zip(candidates, responses, strict=True) if r.status_code == 200]
    [loser] = [r for r in responses if r.status_code == 400]
    assert (await loser.get_json())["error"] == "wrong_password"
    await login(client, email, winner)
    for new in candidates:
        if new != winner:
            refused = await client.post("/accounts/login/", json={"email": email, "password": new})
            assert refused.status_code == 401


async def test_revoke_user_sessions_user_wide_ends_every_session(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    first, second = await login(client, email), await login(client, email)
    me = await (await client.get("/accounts/me/", headers=bearer(first["access_token"]))).get_json()
    redis = Redis.from_url(stack.settings.redis_url, decode_responses=True)
    try:
        async with transaction(stack.sessions) as session:
            ended = await revoke_user_sessions(
                session, redis, stack.settings.access_token_ttl_seconds, me["id"]
            )
    finally:
        await redis.aclose()
    assert ended == 2
    for tokens in (first, second):
        assert await _status(client, tokens["access_token"]) == 401
        refresh = {"refresh_token": tokens["refresh_token"]}
        assert (await client.post("/accounts/refresh/", json=refresh)).status_code == 401
    # A new login (after the mark's second has passed) works again.
    await asyncio.sleep(1.1)
    fresh = await login(client, email)
    assert await _status(client, fresh["access_token"]) == 200
