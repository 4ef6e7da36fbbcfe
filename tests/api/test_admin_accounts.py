"""Admin account management through HTTP: activate, change group (the last-admin rule, also
under two concurrent demotions), deactivate; each takes effect on the user's next request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from quart.typing import TestClientProtocol
from sqlalchemy import select, update

from domain.db import transaction
from domain.models import User, UserGroup, UserGroupModel
from tests.api.catalog_support import account
from tests.conftest import Stack
from tests.support import bearer, login, new_email, register


async def post(
    client: TestClientProtocol, path: str, body: Mapping[str, object], who: dict[str, str]
) -> tuple[int, Any]:
    response = await client.post(f"/admin/accounts/{path}/", json=dict(body), headers=who)
    return response.status_code, await response.get_json()


async def is_active(stack: Stack, email: str) -> bool:
    async with stack.sessions() as session:
        return bool(
            (await session.execute(select(User.is_active).where(User.email == email))).scalar_one()
        )


async def test_activate_by_exact_normalised_email(
    client: TestClientProtocol, stack: Stack, admin: dict[str, str]
) -> None:
    email = new_email("inactive")
    await register(client, email)
    # Never a substring: a part of the address names nobody.
    status, body = await post(client, "activate", {"email": email[1:]}, admin)
    assert (status, body["error"]) == (404, "user_not_found")
    assert not await is_active(stack, email)
    # The same address in another case is the same account.
    status, body = await post(client, "activate", {"email": email.upper()}, admin)
    assert status == 200, body
    assert body["message"] == "User account activated."
    assert await is_active(stack, email)
    assert "access_token" in await login(client, email)
    status, body = await post(client, "activate", {"email": email}, admin)
    assert (status, body["message"]) == (200, "User account is already active.")
    status, body = await post(client, "activate", {"email": "not an email"}, admin)
    assert (status, body["error"]) == (422, "validation_error")


async def create_movie_status(client: TestClientProtocol, headers: dict[str, str]) -> int:
    """A moderator route: staff get past the guard (an empty body is then a 422)."""
    return (await client.post("/movies/create/", json={}, headers=headers)).status_code


async def test_group_change_applies_to_the_next_request_without_login(
    client: TestClientProtocol, stack: Stack, admin: dict[str, str]
) -> None:
    email = await account(client, stack, UserGroup.USER)
    token = bearer((await login(client, email))["access_token"])
    assert await create_movie_status(client, token) == 403
    status, body = await post(client, "change-group", {"email": email, "group": "MODERATOR"}, admin)
    assert (status, body["message"]) == (200, "User group changed to MODERATOR."), body
    assert await create_movie_status(client, token) == 422  # the same token, now staff
    status, body = await post(client, "change-group", {"email": email, "group": "MODERATOR"}, admin)
    assert (status, body["message"]) == (200, "User already belongs to group MODERATOR.")
    status, body = await post(client, "change-group", {"email": email, "group": "USER"}, admin)
    assert status == 200, body
    assert await create_movie_status(client, token) == 403
    for bad in ({"email": email, "group": "ROOT"}, {"email": email, "group_id": 1}):
        status, body = await post(client, "change-group", bad, admin)
        assert (status, body["error"]) == (422, "validation_error"), body
    status, body = await post(
        client, "change-group", {"email": new_email(), "group": "ADMIN"}, admin
    )
    assert (status, body["error"]) == (404, "user_not_found")


async def test_deactivation_stops_every_token_at_once(
    client: TestClientProtocol, stack: Stack, admin: dict[str, str]
) -> None:
    email = await account(client, stack, UserGroup.USER)
    tokens = await login(client, email)
    me = await client.get("/accounts/me/", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    status, body = await post(client, "deactivate", {"email": email}, admin)
    assert (status, body["message"]) == (200, "User account deactivated."), body
    me = await client.get("/accounts/me/", headers=bearer(tokens["access_token"]))
    assert me.status_code == 401, await me.get_json()
    refreshed = await client.post(
        "/accounts/refresh/", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401, await refreshed.get_json()
    login_again = await client.post("/accounts/login/", json={"email": email, "password": "x"})
    assert login_again.status_code in (401, 403)
    status, body = await post(client, "deactivate", {"email": email}, admin)
    assert (status, body["message"]) == (200, "User account is already inactive.")


async def test_an_admin_cannot_deactivate_themselves(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = await account(client, stack, UserGroup.ADMIN)
    me = bearer((await login(client, email))["access_token"])
    status, body = await post(client, "deactivate", {"email": email}, me)
    assert (status, body["error"]) == (403, "cannot_target_self")
    assert await is_active(stack, email)


@asynccontextmanager
async def only_these_admins(stack: Stack, *emails: str) -> AsyncIterator[None]:
    """Every other active admin of this database is set aside for the test, then restored."""
    admin_group = select(UserGroupModel.id).where(UserGroupModel.name == UserGroup.ADMIN)
    async with transaction(stack.sessions) as session:
        others = list(
            (
                await session.execute(
                    update(User)
                    .where(
                        User.group_id == admin_group.scalar_subquery(),
                        User.is_active,
                        User.email.not_in(emails),
                    )
                    .values(is_active=False)
                    .returning(User.id)
                )
            ).scalars()
        )
    try:
        yield
    finally:
        async with transaction(stack.sessions) as session:
            await session.execute(update(User).where(User.id.in_(others)).values(is_active=True))


async def group_of(stack: Stack, email: str) -> UserGroup:
    async with stack.sessions() as session:
        query = (
            select(UserGroupModel.name)
            .join(User, User.group_id == UserGroupModel.id)
            .where(User.email == email)
        )
        return UserGroup((await session.execute(query)).scalar_one())


async def test_the_last_admin_cannot_be_demoted_or_deactivated(
    client: TestClientProtocol, stack: Stack
) -> None:
    first, second = [await account(client, stack, UserGroup.ADMIN) for _ in range(2)]
    first_h, second_h = [bearer((await login(client, e))["access_token"]) for e in (first, second)]
    async with only_these_admins(stack, first, second):
        demote = {"email": second, "group": "MODERATOR"}
        status, body = await post(client, "change-group", demote, first_h)
        assert status == 200, body
        # `first` is now the only admin: neither demoting themselves nor anything else works.
        status, body = await post(
            client, "change-group", {"email": first, "group": "USER"}, first_h
        )
        assert (status, body["error"]) == (409, "last_admin"), body
        assert await group_of(stack, first) == UserGroup.ADMIN
        status, body = await post(client, "change-group", demote | {"group": "ADMIN"}, first_h)
        assert status == 200, body
        # Two admins again: one may step down themselves.
        status, body = await post(
            client, "change-group", {"email": second, "group": "USER"}, second_h
        )
        assert status == 200, body
        assert await create_movie_status(client, second_h) == 403
        status, body = await post(client, "deactivate", {"email": first}, second_h)
        assert (status, body["error"]) == (403, "permission_denied")  # no longer an admin


async def test_two_concurrent_demotions_leave_one_admin(
    client: TestClientProtocol, stack: Stack
) -> None:
    for crosswise in (True, False, True, False, True, False):
        emails = [await account(client, stack, UserGroup.ADMIN) for _ in range(2)]
        headers = [bearer((await login(client, e))["access_token"]) for e in emails]
        targets = emails[::-1] if crosswise else emails  # each other, or each themselves
        async with only_these_admins(stack, *emails):
            results = await asyncio.gather(
                *(
                    post(client, "change-group", {"email": t, "group": "USER"}, h)
                    for t, h in zip(targets, headers, strict=True)
                )
            )
            # The loser is refused as the last admin, or (crosswise, when the winner
            # committed before the loser's request was authenticated) as a non-admin.
            statuses = sorted(status for status, _ in results)
            assert statuses in ([200, 403], [200, 409]), results
            groups = [await group_of(stack, e) for e in emails]
            assert groups.count(UserGroup.ADMIN) == 1, groups
