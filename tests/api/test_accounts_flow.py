"""The accounts journey through HTTP, real Postgres, Redis, Temporal and SMTP."""

from __future__ import annotations

import asyncio
import hashlib
import html

from quart.typing import TestClientProtocol
from sqlalchemy import select, update

from domain.models import ActivationToken, User
from tests.conftest import Stack
from tests.support import (
    PASSWORD,
    activation_link,
    bearer,
    follow_link,
    html_of,
    link_query,
    login,
    new_email,
    register,
    register_and_activate,
    text_of,
    wait_for_mail,
)


async def test_register_activate_login_me_refresh_logout(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email("Happy")  # mixed case in: stored and answered lower-cased
    body = await register(client, email)
    assert body["email"] == email.lower()

    [mail] = await wait_for_mail(stack.mail, email, "Activate")
    link = activation_link(mail)
    assert link.startswith("http://cinema.test/accounts/activate/?")  # PUBLIC_BASE_URL, not Host
    assert html.escape(link) in html_of(mail)  # the HTML part carries the same, escaped link
    query = link_query(link)
    assert query["email"] == email.lower()
    assert len(query["token"]) == 64

    # Only the hash of the token is stored.
    async with stack.sessions() as session:
        stored = (await session.execute(select(ActivationToken.token_hash))).scalars().all()
    assert hashlib.sha256(query["token"].encode()).hexdigest() in stored
    assert query["token"] not in stored

    # Not active yet: login is refused with a clear reason.
    response = await client.post("/accounts/login/", json={"email": email, "password": PASSWORD})
    assert response.status_code == 403
    assert (await response.get_json())["error"] == "account_not_activated"

    # Opening the link shows a page; its button activates (what a browser does).
    response = await follow_link(client, link)
    assert response.status_code == 200
    assert (await response.get_json())["message"] == "User account activated successfully."
    [confirmation] = await wait_for_mail(stack.mail, email, "is active")
    assert "log in" in text_of(confirmation)

    # Login right after "activated" succeeds: the update answered after the commit.
    tokens = await login(client, email.upper())
    assert tokens["token_type"] == "bearer"
    assert 0 < tokens["expires_in"] <= stack.settings.access_token_ttl_seconds

    response = await client.get("/accounts/me/", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    me = await response.get_json()
    assert me["email"] == email.lower()
    assert me["group"] == "USER"
    assert me["is_active"] is True

    response = await client.post(
        "/accounts/refresh/", json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 200
    rotated = await response.get_json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert (
        await client.get("/accounts/me/", headers=bearer(rotated["access_token"]))
    ).status_code == 200

    response = await client.post("/accounts/logout/", headers=bearer(rotated["access_token"]))
    assert response.status_code == 200

    response = await client.get("/accounts/me/", headers=bearer(rotated["access_token"]))
    assert response.status_code == 401
    assert (await response.get_json())["error"] == "token_revoked"
    response = await client.post(
        "/accounts/refresh/", json={"refresh_token": rotated["refresh_token"]}
    )
    assert response.status_code == 401


async def test_activation_link_is_single_use(client: TestClientProtocol, stack: Stack) -> None:
    email = new_email()
    await register(client, email)
    [mail] = await wait_for_mail(stack.mail, email, "Activate")
    link = activation_link(mail)
    assert (await follow_link(client, link)).status_code == 200
    again = await follow_link(client, link)
    assert again.status_code == 400
    assert (await again.get_json())["error"] == "invalid_activation_token"


async def test_plus_address_link_is_url_encoded(client: TestClientProtocol, stack: Stack) -> None:
    email = new_email("a+b")
    await register(client, email)
    [mail] = await wait_for_mail(stack.mail, email, "Activate")
    link = activation_link(mail)
    assert "a%2Bb" in link
    assert (await follow_link(client, link)).status_code == 200
    await login(client, email)


async def test_activation_by_post_with_wrong_email_is_refused(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register(client, email)
    [mail] = await wait_for_mail(stack.mail, email, "Activate")
    token = link_query(activation_link(mail))["token"]
    response = await client.post(
        "/accounts/activate/", json={"token": token, "email": new_email("other")}
    )
    assert response.status_code == 400
    response = await client.post("/accounts/activate/", json={"token": token})
    assert response.status_code == 200


async def test_existing_account_gets_notice_not_second_account(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    await register(client, email.upper(), "An0ther$ecret")
    [notice] = await wait_for_mail(stack.mail, email, "tried to register")
    assert "No new account was created" in text_of(notice)
    async with stack.sessions() as session:
        users = (await session.execute(select(User).where(User.email == email))).scalars().all()
    assert len(users) == 1
    # The original password still works; the one sent with the second registration does not.
    await login(client, email)
    response = await client.post(
        "/accounts/login/", json={"email": email, "password": "An0ther$ecret"}
    )
    assert response.status_code == 401


async def test_concurrent_registrations_create_one_account(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    responses = await asyncio.gather(
        *(
            client.post("/accounts/register/", json={"email": email, "password": PASSWORD})
            for _ in range(4)
        )
    )
    assert [r.status_code for r in responses] == [202] * 4
    async with stack.sessions() as session:
        count = len((await session.execute(select(User.id).where(User.email == email))).all())
    assert count == 1


async def test_substring_of_another_email_is_a_different_account(
    client: TestClientProtocol, stack: Stack
) -> None:
    """Reference weak spots W1-W2: bob@ must never match jimbob@."""
    suffix = new_email("")[1:]  # "-xxxx@example.com"
    jimbob, bob = f"jimbob{suffix}", f"bob{suffix}"
    await register_and_activate(client, stack.mail, jimbob, "Jimb0b$ecret")
    await register_and_activate(client, stack.mail, bob, "B0b$ecret!")
    jim_tokens = await login(client, jimbob, "Jimb0b$ecret")
    bob_tokens = await login(client, bob, "B0b$ecret!")
    response = await client.post(
        "/accounts/login/", json={"email": bob, "password": "Jimb0b$ecret"}
    )
    assert response.status_code == 401
    me_jim = await (
        await client.get("/accounts/me/", headers=bearer(jim_tokens["access_token"]))
    ).get_json()
    me_bob = await (
        await client.get("/accounts/me/", headers=bearer(bob_tokens["access_token"]))
    ).get_json()
    assert (me_jim["email"], me_bob["email"]) == (jimbob, bob)


async def test_two_devices_stay_logged_in_and_logout_is_per_session(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    phone = await login(client, email)
    laptop = await login(client, email)
    for device in (phone, laptop):
        response = await client.post(
            "/accounts/refresh/", json={"refresh_token": device["refresh_token"]}
        )
        assert response.status_code == 200
        device.update(await response.get_json())

    assert (
        await client.post("/accounts/logout/", headers=bearer(phone["access_token"]))
    ).status_code == 200
    assert (
        await client.get("/accounts/me/", headers=bearer(laptop["access_token"]))
    ).status_code == 200
    response = await client.post(
        "/accounts/refresh/", json={"refresh_token": laptop["refresh_token"]}
    )
    assert response.status_code == 200
    response = await client.post(
        "/accounts/refresh/", json={"refresh_token": phone["refresh_token"]}
    )
    assert response.status_code == 401


async def test_logout_cannot_revoke_someone_elses_session(
    client: TestClientProtocol, stack: Stack
) -> None:
    """Reference weak spot W5."""
    alice, mallory = new_email("alice"), new_email("mallory")
    await register_and_activate(client, stack.mail, alice)
    await register_and_activate(client, stack.mail, mallory)
    alice_tokens = await login(client, alice)
    mallory_tokens = await login(client, mallory)
    response = await client.post(
        "/accounts/logout/",
        headers=bearer(mallory_tokens["access_token"]),
        json={"refresh_token": alice_tokens["refresh_token"]},
    )
    assert response.status_code == 200
    response = await client.post(
        "/accounts/refresh/", json={"refresh_token": alice_tokens["refresh_token"]}
    )
    assert response.status_code == 200
    assert (
        await client.get("/accounts/me/", headers=bearer(alice_tokens["access_token"]))
    ).status_code == 200


async def test_refresh_token_reuse_revokes_the_family(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    first = await login(client, email)
    response = await client.post(
        "/accounts/refresh/", json={"refresh_token": first["refresh_token"]}
    )
    second = await response.get_json()

    reuse = await client.post("/accounts/refresh/", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert (await reuse.get_json())["error"] == "refresh_token_reused"
    # The thief's copy and the rightful rotated token are both dead now.
    response = await client.post(
        "/accounts/refresh/", json={"refresh_token": second["refresh_token"]}
    )
    assert response.status_code == 401


async def test_refresh_works_after_access_token_expired(
    client: TestClientProtocol, stack: Stack
) -> None:
    """Reference weak spot W4: only the refresh token is needed."""
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    tokens = await login(client, email)
    response = await client.post(
        "/accounts/refresh/",
        json={"refresh_token": tokens["refresh_token"]},
        headers=bearer("garbage"),
    )
    assert response.status_code == 200


async def test_deactivated_user_tokens_stop_working_at_once(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register_and_activate(client, stack.mail, email)
    tokens = await login(client, email)
    async with stack.sessions() as session, session.begin():
        await session.execute(update(User).where(User.email == email).values(is_active=False))
    response = await client.get("/accounts/me/", headers=bearer(tokens["access_token"]))
    assert response.status_code == 401
    assert (await response.get_json())["error"] == "inactive_user"
    response = await client.post(
        "/accounts/refresh/", json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 401
