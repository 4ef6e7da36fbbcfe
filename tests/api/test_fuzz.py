"""Fuzz the API with its own OpenAPI document (Schemathesis).

Every operation that `/openapi.json` documents gets:

- the coverage cases: Schemathesis' deterministic boundary and negative cases (lengths around
  min/max, wrong types, nulls, missing and unknown fields, bodies that are not objects,
  undeclared methods and media types, a missing Authorization header);
- Hypothesis fuzzing, with valid (positive) and invalid (negative) data, derandomized; positive
  cases sometimes carry a real email, a policy-conforming password or a live refresh token, so
  they get past validation into the services.

Each response must not be a 5xx, must match the schema documented for its status, must use a
documented content type, and when it is not a 2xx must be the one JSON error shape with `error`
and `detail`.

The app runs in Schemathesis' ASGI transport: its own event loop and lifespan (and its own lazy
Temporal connection) against this run's Postgres, Redis and Temporal. `/accounts/me/` and
`/accounts/logout/` get a fresh, valid bearer token per case (logout revokes it), except in the
cases where Schemathesis deliberately breaks or drops the Authorization header.

Catalog writes are sent as a moderator, and positive catalog cases sometimes aim at real movies
and names (tests/api/fuzz_catalog.py).

Every operation with a JSON body also gets a few hostile bodies no schema-driven generator sends
(deep nesting, NaN, huge numbers, invalid UTF-8, lone surrogates, one byte over the size limit).

(`schemathesis.pytest.from_fixture` would do the fuzzing per operation, but it relies on a pytest
internal, `Node._nodeid`, that pytest 9 no longer has; hence the explicit loop.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from quart import Quart
from quart.typing import TestClientProtocol
from schemathesis import Case, GenerationMode
from schemathesis.errors import FailureGroup
from schemathesis.python.asgi import shutdown_lifespans

from api.app import create_app
from domain.models import UserGroup
from tests.api.catalog_support import account
from tests.api.fuzz_catalog import CatalogPool, StaffToken, is_staff_write, make_pool
from tests.api.fuzz_support import (
    AUTHENTICATED,
    CONFIG,
    HOSTILE_BODIES,
    Client,
    Findings,
    operations,
    surrogate_body,
)
from tests.conftest import Stack
from tests.support import PASSWORD, bearer, login, new_email, register_and_activate

# Per operation and generation mode. `make test` runs 50 (the fuzzing is derandomized: the same
# cases every run, ~2 min); `make fuzz` runs FUZZ_EXAMPLES=400 for a deeper look by hand. Below
# ~50 the check that valid cases reach the services (a 2xx per operation) may not hold.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
# Genres, stars, directors and certifications are one blueprint factory (api/catalog_names.py):
# genres get the full run, the other three (the same code) a shorter one.
SAME_CODE_AS_GENRES = ("/movies/stars/", "/movies/directors/", "/movies/certifications/")
SAME_CODE_EXAMPLES = max(25, MAX_EXAMPLES // 4)

FUZZ_SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
    verbosity=hypothesis.Verbosity.quiet,
)


@pytest.fixture(scope="module")
async def fuzz_account(client: TestClientProtocol, stack: Stack) -> tuple[str, str]:
    """An active user, registered and activated through the real worker."""
    email = new_email("fuzz")
    await register_and_activate(client, stack.mail, email)
    return email, PASSWORD


@pytest.fixture(scope="module")
async def fuzz_moderator(client: TestClientProtocol, stack: Stack) -> str:
    """A moderator's email (catalog writes); the password is the fuzz account's."""
    return await account(client, stack, UserGroup.MODERATOR)


@pytest.fixture(scope="module")
async def fuzz_pool(client: TestClientProtocol, stack: Stack, fuzz_moderator: str) -> CatalogPool:
    headers = bearer((await login(client, fuzz_moderator))["access_token"])
    return await make_pool(client, stack, headers)


@pytest.fixture(scope="module")
def fuzz_app(stack: Stack) -> Iterator[Quart]:
    # No Temporal client passed in: the app connects lazily, from Schemathesis' event loop.
    # Every request comes from one client address and most logins from one account.
    settings = stack.with_overrides(
        rate_limit_login=1_000_000, rate_limit_register=1_000_000, rate_limit_resend=1_000_000
    )
    yield create_app(settings)
    shutdown_lifespans()  # the app's after_serving (engine, Redis) before the database is dropped


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app: Quart) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app, config=CONFIG)


@pytest.fixture(scope="module")
def fuzz_client(
    fuzz_schema: Any, fuzz_account: tuple[str, str], fuzz_moderator: str, fuzz_pool: CatalogPool
) -> Client:
    email, password = fuzz_account
    client = Client(fuzz_schema, email, password, StaffToken(lambda: ""), fuzz_pool)
    client.staff.login = lambda: str(client.login(fuzz_moderator)["access_token"])
    return client


def test_coverage_cases(fuzz_schema: Any, fuzz_client: Client) -> None:
    """Schemathesis' deterministic boundary and negative cases for every operation."""
    findings = Findings()
    for operation in operations(fuzz_schema):
        generation = fuzz_schema.config.generation_for(operation=operation, phase="coverage")
        for case in fuzz_schema.iter_coverage_cases(
            operation, generation_modes=list(GenerationMode), generation_config=generation
        ):
            try:
                fuzz_client.send(case)
            except (Exception, FailureGroup) as exc:
                findings.add(f"{operation.label} (coverage)", exc)
    assert not findings, str(findings)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzing(fuzz_schema: Any, fuzz_client: Client, mode: GenerationMode) -> None:
    """Hypothesis-generated cases (valid or invalid data) for every operation, shrunk on failure."""
    findings = Findings()
    for operation in operations(fuzz_schema):
        examples = (
            SAME_CODE_EXAMPLES if operation.path.startswith(SAME_CODE_AS_GENRES) else MAX_EXAMPLES
        )

        @hypothesis.settings(FUZZ_SETTINGS, max_examples=examples)
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode), data=st.data())
        def fuzz(case: Case, data: st.DataObject) -> None:
            __tracebackhide__ = True
            if mode is GenerationMode.POSITIVE:
                fuzz_client.make_realistic(case, data)
            fuzz_client.send(case)

        try:
            fuzz()
        except Unsatisfiable:
            # Nothing to negate in an operation without a body or parameters other than the
            # path's (a path segment is a string: its type cannot be negated in a URL).
            if any(p.location != "path" for p in operation.iter_parameters()) or len(
                operation.body
            ):
                raise
        except (Exception, BaseExceptionGroup) as exc:  # BaseExceptionGroup: several bugs
            findings.add(f"{operation.label} ({mode.value})", exc)
    assert not findings, str(findings)
    if mode is GenerationMode.POSITIVE:
        # The catalog's valid cases got past auth and ids into the services at least once.
        missed = [
            label
            for label, seen in fuzz_client.statuses.items()
            if " /movies/" in label and not any(200 <= status < 300 for status in seen)
        ]
        assert not missed, f"never a 2xx: {missed}"


async def test_hostile_json_bodies(
    client: TestClientProtocol,
    stack: Stack,
    fuzz_account: tuple[str, str],
    fuzz_moderator: str,
    fuzz_pool: CatalogPool,
) -> None:
    """Every operation that takes a JSON body answers hostile bodies without a 5xx, and every
    error is the JSON error shape."""
    document = await (await client.get("/openapi.json")).get_json()
    targets = [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert targets
    limit = stack.settings.max_request_bytes
    staff = bearer((await login(client, fuzz_moderator, fuzz_account[1]))["access_token"])
    problems = []
    for method, template, operation in targets:
        path = fuzz_pool.concrete(template)  # real ids: the body is what is under test
        bodies = {
            **HOSTILE_BODIES,
            "one byte over the size limit": b'{"email": "' + b"a" * (limit - 12) + b'"}',
        }
        if (surrogates := surrogate_body(operation)) is not None:
            bodies["lone surrogates in every string field"] = surrogates
        for name, body in bodies.items():
            headers = {"Content-Type": "application/json"}
            if path in AUTHENTICATED:
                token = (await login(client, *fuzz_account))["access_token"]
                headers["Authorization"] = f"Bearer {token}"
            elif is_staff_write(method, path):
                headers.update(staff)
            send = getattr(client, method.lower())  # the typed `open` insists on `json`
            response = await send(path, data=body, headers=headers)
            text = await response.get_data(as_text=True)
            try:
                payload = json.loads(text)
            except ValueError:
                payload = None
            error_shape_ok = (
                response.mimetype == "application/json"
                and isinstance(payload, dict)
                and isinstance(payload.get("error"), str)
                and isinstance(payload.get("detail"), str)
            )
            if response.status_code >= 500 or not (response.status_code < 300 or error_shape_ok):
                shown = body if len(body) <= 200 else body[:60] + b"..." + body[-20:]
                problems.append(
                    f"{method} {path} with {name}: Content-Type: application/json, "
                    f"{len(body):,} bytes {shown!r} -> {response.status_code} {text[:200].strip()}"
                )
    assert not problems, f"{len(problems)} hostile bodies got a 5xx or a non-JSON error:\n" + (
        "\n".join(problems)
    )
