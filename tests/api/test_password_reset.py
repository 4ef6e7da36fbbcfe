"""Password reset through HTTP, real Postgres, Redis, Temporal and SMTP."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime

import pytest
from quart.typing import TestClientProtocol
from sqlalchemy import select
from temporalio.service import RPCError

from domain.models import PasswordResetToken, RefreshToken, User
from tests.api.reset_support import (
    CHANGED_SUBJECT,
    NEW_PASSWORD,
    complete,
    next_second,
    request_reset,
    reset_links,
)
from tests.conftest import Stack, app_client
from tests.support import (
    PASSWORD,
    bearer,
    follow_link,
    link_query,
    login,
    mails_to,
    new_email,
    path_of,
    register,
    register_and_activate,
    text_of,
    wait_for_mail,
)
from tests.workflows.support import user_id_of
from workflows.ids import password_reset_workflow_id


async def _stored_hashes(stack: Stack) -> list[str]:
    async with stack.sessions() as session:
        return list((await session.execute(select(PasswordResetToken.token_hash))).scalars())


async def test_reset_sets_the_password_and_ends_every_session(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email("reset")
    await register_and_activate(client, stack.mail, email)
    old = await login(client, email)  # a session (e.g. a thief's) that the reset must end
    await next_second()

    response = await request_reset(client, email.upper())
    assert response.status_code == 202
    [link] = await reset_links(stack, email)
    assert link.startswith("http://cinema.test/accounts/reset-password/?")
    token = link_query(link)["token"]
    stored = await _stored_hashes(stack)
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert token not in stored  # only the hash is stored

    # The page's form, with the new password typed in, as a browser sends it.
    reset_at = datetime.now(UTC)
    response = await follow_link(client, link, password=NEW_PASSWORD)
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert "reset" in (await response.get_json())["message"]

    [notice] = await wait_for_mail(stack.mail, email, CHANGED_SUBJECT)
    assert "logged out" in text_of(notice)
    await login(client, email, NEW_PASSWORD)
    refused = await client.post("/accounts/login/", json={"email": email, "password": PASSWORD})
    assert refused.status_code == 401
    me = await client.get("/accounts/me/", headers=bearer(old["access_token"]))
    assert me.status_code == 401
    refreshed = await client.post(
        "/accounts/refresh/", json={"refresh_token": old["refresh_token"]}
    )
    assert refreshed.status_code == 401
    # Every refresh token issued before the reset is revoked in the database too (what a list
    # of the user's sessions shows), not only refused by the revocation mark.
    async with stack.sessions() as session:
        live = await session.execute(
            select(RefreshToken.jti).where(
                RefreshToken.user_id == User.id,
                User.email == email,
                RefreshToken.revoked_at.is_(None),
                RefreshToken.issued_at < reset_at,
            )
        )
        assert live.all() == []

    # The link is single use.
    again = await follow_link(client, link, password="An0ther$pass")
    assert again.status_code == 400
    assert (await again.get_json())["error"] == "invalid_reset_token"
    await login(client, email, NEW_PASSWORD)


async def test_unknown_and_inactive_emails_get_the_same_answer_and_no_mail(
    client: TestClientProtocol, stack: Stack
) -> None:
    known, unknown, inactive = new_email("known"), new_email("unknown"), new_email("inactive")
    await register_and_activate(client, stack.mail, known)
    await register(client, inactive)  # registered, never activated
    answers = [await request_reset(client, email) for email in (known, unknown, inactive)]
    bodies = [(a.status_code, await a.get_json()) for a in answers]
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0][0] == 202
    await reset_links(stack, known)
    await asyncio.sleep(1)  # the known email's link came; nothing else is on its way
    assert mails_to(stack.mail, known)
    # No run is started for them (an unknown email has no id; an inactive one is not eligible).
    workflow_id = password_reset_workflow_id(await user_id_of(stack, inactive))
    with pytest.raises(RPCError):
        await stack.client.get_workflow_handle(workflow_id).describe()
    for email in (unknown, inactive):
        subjects = [str(m["Subject"]) for m in mails_to(stack.mail, email)]
        assert not any("password" in s.lower() for s in subjects), subjects


async def test_a_wrong_token_never_cancels_the_right_one(
    client: TestClientProtocol, stack: Stack
) -> None:
    """W10: a stranger who knows the email sends wrong tokens; the owner's link still works."""
    email = new_email("w10")
    await register_and_activate(client, stack.mail, email)
    assert (await request_reset(client, email)).status_code == 202
    [link] = await reset_links(stack, email)
    for _ in range(3):
        wrong = await complete(client, email, secrets.token_hex(32), "Attack3r$pass")
        assert wrong.status_code == 400
        assert (await wrong.get_json())["error"] == "invalid_reset_token"
    # W1: the right token with another address changes nothing either.
    other = await complete(client, new_email("lice"), link_query(link)["token"], "Attack3r$pass")
    assert other.status_code == 400
    assert (await follow_link(client, link, password=NEW_PASSWORD)).status_code == 200
    await login(client, email, NEW_PASSWORD)


async def test_a_new_request_supersedes_the_old_link(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email("again")
    await register_and_activate(client, stack.mail, email)
    assert (await request_reset(client, email)).status_code == 202
    [first] = await reset_links(stack, email)
    assert (await request_reset(client, email)).status_code == 202
    _, second = await reset_links(stack, email, count=2)
    assert link_query(first)["token"] != link_query(second)["token"]
    stale = await follow_link(client, first, password=NEW_PASSWORD)
    assert stale.status_code == 400
    assert (await follow_link(client, second, password=NEW_PASSWORD)).status_code == 200
    await login(client, email, NEW_PASSWORD)


async def test_a_password_login_would_refuse_is_never_set(
    client: TestClientProtocol, stack: Stack
) -> None:
    """The register rules (W7): too short, too long, or missing a class is a 422 that does not
    echo the password, and the link still works afterwards."""
    email = new_email("weak")
    await register_and_activate(client, stack.mail, email)
    assert (await request_reset(client, email)).status_code == 202
    [link] = await reset_links(stack, email)
    token = link_query(link)["token"]
    for weak in (
        "Aa1!",
        "A" * 60 + "a1!" + "b" * 70,
        "alllowercase1!",
        "NoDigits!!",
        "NoSpecial12",
    ):
        response = await complete(client, email, token, weak)
        assert response.status_code == 422, weak
        body = await response.get_data(as_text=True)
        assert weak not in body
        assert '"password"' in body
    same = await complete(client, email, token, PASSWORD)  # W8: the current password again
    assert same.status_code == 409
    assert (await same.get_json())["error"] == "password_unchanged"
    assert (await complete(client, email, token)).status_code == 200
    await login(client, email, NEW_PASSWORD)


async def test_opening_the_page_changes_nothing_and_ignores_extra_params(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email("page")
    await register_and_activate(client, stack.mail, email)
    assert (await request_reset(client, email)).status_code == 202
    [link] = await reset_links(stack, email)
    for _ in range(3):  # a mail scanner, a preview, the user: none of them spends the token
        page = await client.get(path_of(link) + "&utm_source=mail&utm_campaign=x&fbclid=1")
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert 'type="password"' in await page.get_data(as_text=True)
    login_still_works = await client.post(
        "/accounts/login/", json={"email": email, "password": PASSWORD}
    )
    assert login_still_works.status_code == 200
    assert (await follow_link(client, link, password=NEW_PASSWORD)).status_code == 200


async def test_a_broken_link_shows_a_page_not_an_error(client: TestClientProtocol) -> None:
    for query in ("", "?token=short", "?token=" + "a" * 64, "?email=a%40b.c&token=%00%00"):
        page = await client.get("/accounts/reset-password/" + query)
        assert page.status_code == 200
        text = await page.get_data(as_text=True)
        assert "incomplete" in text
        assert "<form" not in text


def _peer() -> dict[str, tuple[str, int]]:
    return {"client": (".".join(str(secrets.randbelow(250) + 1) for _ in range(4)), 1)}


@pytest.mark.usefixtures("worker")
async def test_requests_are_rate_limited_per_email_and_per_client(stack: Stack) -> None:
    email = new_email("limited")
    async with app_client(stack, rate_limit_reset=2) as api:
        peer = _peer()
        for _ in range(2):
            assert (await request_reset(api, email, scope_base=peer)).status_code == 202
        limited = await request_reset(api, email, scope_base=_peer())  # same email, new client
        assert limited.status_code == 429
        assert (await limited.get_json())["error"] == "rate_limited"
        assert 0 < int(limited.headers["Retry-After"]) <= 600
        # One client trying many emails: 4x the per-email limit.
        crawler = _peer()
        for _ in range(8):
            response = await request_reset(api, new_email("crawl"), scope_base=crawler)
            assert response.status_code == 202
        assert (await request_reset(api, new_email(), scope_base=crawler)).status_code == 429
        assert (await request_reset(api, new_email(), scope_base=_peer())).status_code == 202


@pytest.mark.usefixtures("worker")
async def test_a_strangers_wrong_tokens_do_not_lock_the_owner_out(stack: Stack) -> None:
    """Completion attempts count per (email, client): the attacker is throttled, the owner on
    their own client is not, and their link still works."""
    email = new_email("owner")
    async with app_client(stack, rate_limit_reset_complete=2) as api:
        await register_and_activate(api, stack.mail, email)
        assert (await request_reset(api, email)).status_code == 202
        [link] = await reset_links(stack, email)
        attacker = _peer()
        for _ in range(2):
            wrong = await complete(api, email, secrets.token_hex(32), scope_base=attacker)
            assert wrong.status_code == 400
        throttled = await complete(api, email, secrets.token_hex(32), scope_base=attacker)
        assert throttled.status_code == 429
        right = await complete(api, email, link_query(link)["token"], scope_base=_peer())
        assert right.status_code == 200
        await login(api, email, NEW_PASSWORD)


async def test_two_completions_at_once_set_one_password(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email("twice")
    await register_and_activate(client, stack.mail, email)
    assert (await request_reset(client, email)).status_code == 202
    [link] = await reset_links(stack, email)
    token = link_query(link)["token"]
    answers = await asyncio.gather(
        complete(client, email, token, "F1rst$password"),
        complete(client, email, token, "Sec0nd$password"),
    )
    assert sorted(a.status_code for a in answers) == [200, 400]
    winner = "F1rst$password" if answers[0].status_code == 200 else "Sec0nd$password"
    await login(client, email, winner)
    await wait_for_mail(stack.mail, email, CHANGED_SUBJECT)
