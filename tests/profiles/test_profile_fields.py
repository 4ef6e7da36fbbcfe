"""Profiles through HTTP: who may do what, every field rule, null clears, age by the calendar."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from quart.typing import TestClientProtocol
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from domain.db import constraint_name, transaction
from domain.profiles import repository
from domain.profiles.errors import ProfileExists
from domain.profiles.rules import age_on
from tests.conftest import Stack
from tests.profiles.support import Caller


def url(user_id: int) -> str:
    return f"/profiles/users/{user_id}/"


async def body(response: Any) -> Any:
    return await response.get_json()


# --------------------------------------------------------------------------------- roles
async def test_owner_creates_reads_and_updates(
    profiles_client: TestClientProtocol, owner: Caller
) -> None:
    c = profiles_client
    response = await c.post(
        url(owner.id),
        json={"first_name": "Zoë", "last_name": "O'Brien-Smith"},
        headers=owner.headers,
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    created = await body(response)
    assert created["user_id"] == owner.id
    assert created["first_name"] == "Zoë"  # as stored, not lowercased (W28)
    assert created["last_name"] == "O'Brien-Smith"
    assert created["gender"] is None and created["info"] is None and created["avatar"] is None
    assert created["age"] is None

    response = await c.patch(url(owner.id), json={"info": "Likes noir."}, headers=owner.headers)
    assert response.status_code == 200
    updated = await body(response)
    assert updated["info"] == "Likes noir." and updated["first_name"] == "Zoë"

    response = await c.get(url(owner.id), headers=owner.headers)
    assert response.status_code == 200 and await body(response) == updated


async def test_double_create_is_409(profiles_client: TestClientProtocol, owner: Caller) -> None:
    first = await profiles_client.post(url(owner.id), json={}, headers=owner.headers)
    assert first.status_code == 201
    again = await profiles_client.post(url(owner.id), json={"info": "x"}, headers=owner.headers)
    assert again.status_code == 409 and (await body(again))["error"] == "profile_exists"
    read = await profiles_client.get(url(owner.id), headers=owner.headers)
    assert (await body(read))["info"] is None


async def test_role_matrix(
    profiles_client: TestClientProtocol,
    owner: Caller,
    stranger: Caller,
    moderator_caller: Caller,
    admin_caller: Caller,
) -> None:
    c = profiles_client
    for method in ("post", "patch", "get"):
        send = getattr(c, method)
        kwargs = {} if method == "get" else {"json": {"info": "x"}}
        anonymous = await send(url(owner.id), **kwargs)
        assert anonymous.status_code == 401, method
        for other in (stranger, moderator_caller):
            refused = await send(url(owner.id), headers=other.headers, **kwargs)
            assert refused.status_code == 403, method
            assert (await body(refused))["error"] == "permission_denied"
    # Nothing was created by the refused calls; an admin may create, change and read it.
    assert (await c.get(url(owner.id), headers=owner.headers)).status_code == 404
    made = await c.post(url(owner.id), json={"info": "by admin"}, headers=admin_caller.headers)
    assert made.status_code == 201
    changed = await c.patch(url(owner.id), json={"gender": "woman"}, headers=admin_caller.headers)
    assert changed.status_code == 200
    read = await c.get(url(owner.id), headers=admin_caller.headers)
    assert (await body(read))["gender"] == "woman"


async def test_unknown_user_and_missing_profile(
    profiles_client: TestClientProtocol, owner: Caller, admin_caller: Caller
) -> None:
    c = profiles_client
    unknown = 9_000_000_000
    created = await c.post(url(unknown), json={}, headers=admin_caller.headers)
    assert created.status_code == 404 and (await body(created))["error"] == "user_not_found"
    beyond_bigint = "/profiles/users/99999999999999999999999/"
    assert (await c.get(beyond_bigint, headers=admin_caller.headers)).status_code == 404
    assert (await c.post(beyond_bigint, json={}, headers=admin_caller.headers)).status_code == 404
    # A plain user learns nothing about other ids: 403, not 404.
    assert (await c.post(url(unknown), json={}, headers=owner.headers)).status_code == 403
    for method in ("get", "patch"):
        kwargs = {} if method == "get" else {"json": {"info": "x"}}
        missing = await getattr(c, method)(url(owner.id), headers=owner.headers, **kwargs)
        assert missing.status_code == 404 and (await body(missing))["error"] == "profile_not_found"


async def test_only_the_one_profile_per_user_constraint_is_profile_exists(
    stack: Stack, owner: Caller, stranger: Caller
) -> None:
    """Any other integrity error (here the primary key: an id given twice) is a bug that
    propagates, never reported as the user already having a profile."""
    async with transaction(stack.sessions) as session:
        taken_id = (await repository.insert_profile(session, owner.id, {})).id
    with pytest.raises(IntegrityError) as caught:
        async with transaction(stack.sessions) as session:
            await repository.insert_profile(session, stranger.id, {"id": taken_id})
    assert constraint_name(caught.value) == "pk_user_profiles"
    with pytest.raises(ProfileExists):
        async with transaction(stack.sessions) as session:
            await repository.insert_profile(session, owner.id, {})


# --------------------------------------------------------------------------------- fields
GOOD = [
    ("first_name", "Mary Ann", "Mary Ann"),
    ("first_name", "  Jean-Luc  ", "Jean-Luc"),
    ("last_name", "D'Artagnan", "D'Artagnan"),
    ("last_name", "Łukasiewicz", "Łukasiewicz"),
    ("first_name", "José", "José"),
    ("gender", "Man", "man"),
    ("gender", "WOMAN", "woman"),
    ("date_of_birth", "1900-01-01", "1900-01-01"),
    ("info", "  Hello there  ", "Hello there"),
    ("info", "x" * 2000, "x" * 2000),
    ("first_name", "A" * 100, "A" * 100),
]

BAD = [
    ("first_name", "R2D2"),
    ("first_name", "Bobby; DROP TABLE"),
    ("first_name", "Anne--Marie"),
    ("first_name", "-Anne"),
    ("first_name", "A" * 101),
    ("first_name", 12),
    ("last_name", "<script>"),
    ("gender", "other"),
    ("gender", 1),
    ("date_of_birth", "1899-12-31"),
    ("date_of_birth", (date.today() + timedelta(days=1)).isoformat()),
    ("date_of_birth", "2001-02-29"),
    ("date_of_birth", "yesterday"),
    ("date_of_birth", "20000101"),
    ("date_of_birth", 0),
    ("date_of_birth", 946684800),
    ("info", "x" * 2001),
    ("info", ["a"]),
    ("nickname", "Neo"),
]


@pytest.mark.parametrize(("field", "sent", "stored"), GOOD)
async def test_good_values(
    profiles_client: TestClientProtocol, owner: Caller, field: str, sent: str, stored: str
) -> None:
    response = await profiles_client.post(url(owner.id), json={field: sent}, headers=owner.headers)
    assert response.status_code == 201, await response.get_data(as_text=True)
    assert (await body(response))[field] == stored


@pytest.mark.parametrize(("field", "sent"), BAD)
async def test_bad_values_are_422_on_create_and_update(
    profiles_client: TestClientProtocol, owner: Caller, field: str, sent: Any
) -> None:
    c = profiles_client
    response = await c.post(url(owner.id), json={field: sent}, headers=owner.headers)
    assert response.status_code == 422, await response.get_data(as_text=True)
    error = await body(response)
    assert error["error"] == "validation_error"
    assert error["fields"][0]["loc"] == ["body", field]
    assert (await c.get(url(owner.id), headers=owner.headers)).status_code == 404
    assert (await c.post(url(owner.id), json={}, headers=owner.headers)).status_code == 201
    patched = await c.patch(url(owner.id), json={field: sent}, headers=owner.headers)
    assert patched.status_code == 422


async def test_bad_form_values_and_bad_bodies(
    profiles_client: TestClientProtocol, owner: Caller
) -> None:
    c = profiles_client
    response = await c.post(url(owner.id), form={"gender": "robot"}, headers=owner.headers)
    assert response.status_code == 422
    # JSON that is not an object is a validation error; a body that is not JSON is malformed.
    for raw, status, error in (
        (b"[1, 2]", 422, "validation_error"),
        (b'"text"', 422, "validation_error"),
        (b"{bad json", 400, "malformed_json"),
    ):
        response = await c.post(
            url(owner.id), data=raw, headers={**owner.headers, "Content-Type": "application/json"}
        )
        assert (response.status_code, (await body(response))["error"]) == (status, error), raw
    assert (await c.get(url(owner.id), headers=owner.headers)).status_code == 404


async def test_null_and_empty_clear_never_empty_string(
    profiles_client: TestClientProtocol, owner: Caller, stack: Any
) -> None:
    c = profiles_client
    full = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "gender": "woman",
        "date_of_birth": "1990-12-10",
        "info": "Hi",
    }
    assert (await c.post(url(owner.id), form=full, headers=owner.headers)).status_code == 201
    # A PATCH changes only what it sends.
    kept = await body(await c.patch(url(owner.id), json={"info": "Bye"}, headers=owner.headers))
    assert {k: kept[k] for k in full} == {**full, "info": "Bye"}
    # JSON null clears.
    cleared = await body(
        await c.patch(
            url(owner.id), json={"first_name": None, "gender": None}, headers=owner.headers
        )
    )
    assert (
        cleared["first_name"] is None
        and cleared["gender"] is None
        and cleared["last_name"] == "Lovelace"
    )
    # An empty (or blank) form value clears too, and is stored as NULL, never "".
    form_cleared = await c.patch(
        url(owner.id),
        form={"last_name": "", "info": "   ", "date_of_birth": ""},
        headers=owner.headers,
    )
    out = await body(form_cleared)
    assert (
        out["last_name"] is None
        and out["info"] is None
        and out["date_of_birth"] is None
        and out["age"] is None
    )
    async with stack.sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT first_name, last_name, info, gender, date_of_birth"
                    " FROM user_profiles WHERE user_id = :u"
                ),
                {"u": owner.id},
            )
        ).one()
    assert tuple(row) == (None, None, None, None, None)


# --------------------------------------------------------------------------------- age
def years_ago(years: int, today: date, days: int = 0) -> date:
    return today.replace(year=today.year - years) + timedelta(days=days)


async def test_age_around_the_birthday(profiles_client: TestClientProtocol, owner: Caller) -> None:
    today = date.today()
    if (today.month, today.day) in ((2, 28), (2, 29), (3, 1)):
        pytest.skip("the Feb 29 cases are covered by test_age_by_calendar")
    c = profiles_client
    assert (await c.post(url(owner.id), json={}, headers=owner.headers)).status_code == 201
    for born, age in (
        (years_ago(30, today), 30),
        (years_ago(30, today, days=1), 29),
        (years_ago(30, today, days=-1), 30),
        (today, 0),
    ):
        response = await c.patch(
            url(owner.id), json={"date_of_birth": born.isoformat()}, headers=owner.headers
        )
        assert (await body(response))["age"] == age, born


@pytest.mark.parametrize(
    ("born", "today", "age"),
    [
        (date(2000, 2, 29), date(2025, 2, 28), 24),
        (date(2000, 2, 29), date(2025, 3, 1), 25),
        (date(2000, 2, 29), date(2024, 2, 29), 24),
        (date(2000, 2, 29), date(2024, 2, 28), 23),
        (date(2000, 3, 1), date(2024, 2, 29), 23),
        (date(2000, 12, 31), date(2001, 12, 30), 0),
        (date(2000, 12, 31), date(2001, 12, 31), 1),
        (date(1900, 1, 1), date(2026, 1, 1), 126),
    ],
)
def test_age_by_calendar(born: date, today: date, age: int) -> None:
    assert age_on(born, today) == age
