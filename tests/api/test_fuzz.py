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
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
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
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.errors import FailureGroup
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from api.app import create_app
from domain.models import UserGroup
from tests.api.catalog_support import account
from tests.api.fuzz_catalog import CatalogPool, StaffToken, is_staff_write, make_pool
from tests.conftest import Stack
from tests.support import PASSWORD, bearer, login, new_email, register_and_activate

AUTHENTICATED = frozenset({"/accounts/me/", "/accounts/logout/"})
MAX_EXAMPLES = 100  # per operation and generation mode
# Genres, stars, directors and certifications are one blueprint factory (api/catalog_names.py):
# genres get the full run, the other three (the same code) a shorter one.
SAME_CODE_AS_GENRES = ("/movies/stars/", "/movies/directors/", "/movies/certifications/")
SAME_CODE_EXAMPLES = 25
REQUEST_TIMEOUT = 30.0

# Passwords that meet the registration policy (8-128 characters, each character class).
POLICY_PASSWORDS = st.builds(
    lambda required, rest: "".join(required) + rest,
    st.tuples(
        st.sampled_from(string.ascii_lowercase),
        st.sampled_from(string.ascii_uppercase),
        st.sampled_from(string.digits),
        st.sampled_from("@$!%*?&"),
    ),
    st.text(min_size=4, max_size=124),
)

# An explicit configuration: no schemathesis.toml found on disk changes what this test does.
CONFIG = schemathesis.Config.from_dict(
    # Reproductions show tokens as they were sent: they are this run's, and worthless after it.
    {"seed": 20240611, "output": {"sanitization": {"enabled": False}}}
)

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


def error_shape(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case
) -> None:
    """Every non-2xx answer is a JSON object with a non-empty `error` and `detail`."""
    if 200 <= response.status_code < 300 or case.method.upper() == "HEAD":
        return
    content_type = ", ".join(response.headers.get("content-type", []))
    excerpt = response.text_lossy()[:300]
    assert content_type.startswith("application/json"), (
        f"{response.status_code} answered with Content-Type {content_type!r}, not JSON: {excerpt!r}"
    )
    try:
        body = response.json()
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"{response.status_code} body is not JSON ({exc}): {excerpt!r}"
        ) from None
    assert isinstance(body, dict), f"{response.status_code} body is not a JSON object: {excerpt!r}"
    missing = sorted({"error", "detail"} - set(body))
    assert not missing, f"{response.status_code} body lacks {missing}: {excerpt!r}"
    for key in ("error", "detail"):
        assert isinstance(body[key], str) and body[key], (
            f"`{key}` is not a non-empty string: {body}"
        )


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, error_shape]


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


@dataclass
class Client:
    """Sends cases to the app under test, as the fuzz account where an operation needs a user."""

    schema: Any
    email: str
    password: str
    staff: StaffToken
    pool: CatalogPool
    statuses: dict[str, set[int]] = field(default_factory=dict)  # per operation label

    def login(self, email: str | None = None) -> dict[str, Any]:
        response = (
            self.schema["/accounts/login/"]["POST"]
            .Case(body={"email": email or self.email, "password": self.password})
            .call(timeout=REQUEST_TIMEOUT)
        )
        assert response.status_code == 200, response.text_lossy()
        pair: dict[str, Any] = response.json()
        return pair

    def send(self, case: Case) -> None:
        """Send one case and run every check; a failure carries a curl command to reproduce it."""
        __tracebackhide__ = True
        negated = self.schema.is_security_param_negated(case)
        if case.operation.path in AUTHENTICATED and not negated:
            # A fresh token per case: a fuzzed logout revokes the one it was sent with.
            case.headers["Authorization"] = f"Bearer {self.login()['access_token']}"
        elif is_staff_write(case.method, case.operation.path) and not negated:
            case.headers["Authorization"] = self.staff.header()
        try:
            response = case.call_and_validate(checks=CHECKS, timeout=REQUEST_TIMEOUT)
            self.statuses.setdefault(case.operation.label, set()).add(response.status_code)
        except FailureGroup:
            raise  # its message has the response and a curl command
        except Exception as exc:
            exc.add_note(f"while sending:\n{case.as_curl_command()}")
            raise

    def make_realistic(self, case: Case, data: st.DataObject) -> None:
        """Sometimes swap schema-valid but meaningless values for ones the app accepts.

        The document types `email` and the passwords as plain strings and tokens as opaque
        strings, so purely generated positive cases never get past validation; these reach the
        database, the password hasher, Temporal and token rotation.
        """
        if case.operation.path.startswith("/movies/"):
            self.pool.realistic(case, data)
        body = case.body
        if not isinstance(body, dict):
            return
        if "email" in body and data.draw(st.booleans(), label="realistic email"):
            body["email"] = data.draw(st.one_of(st.just(self.email), st.emails()), label="email")
        if (
            case.operation.path == "/accounts/register/"
            and "password" in body
            and data.draw(st.booleans(), label="policy password")
        ):
            body["password"] = data.draw(POLICY_PASSWORDS, label="password")
        if isinstance(body.get("refresh_token"), str) and data.draw(
            st.booleans(), label="live refresh token"
        ):
            body["refresh_token"] = self.login()["refresh_token"]


@pytest.fixture(scope="module")
def fuzz_client(
    fuzz_schema: Any, fuzz_account: tuple[str, str], fuzz_moderator: str, fuzz_pool: CatalogPool
) -> Client:
    email, password = fuzz_account
    client = Client(fuzz_schema, email, password, StaffToken(lambda: ""), fuzz_pool)
    client.staff.login = lambda: str(client.login(fuzz_moderator)["access_token"])
    return client


def operations(schema: Any) -> list[Any]:
    found = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    errors = [result for result in schema.get_all_operations() if not isinstance(result, Ok)]
    assert not errors, f"the OpenAPI document has operations Schemathesis cannot read: {errors}"
    assert found, "the OpenAPI document has no operations"
    return found


class Findings:
    """The failures of a run: one per operation and kind, with its first reproduction."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, ...], str] = {}

    def add(self, label: str, exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup) and not isinstance(exc, FailureGroup):
            for inner in exc.exceptions:  # Hypothesis found several distinct bugs
                self.add(label, inner)
            return
        if isinstance(exc, FailureGroup):
            kinds = tuple(sorted(failure.title for failure in exc.exceptions))
            text = str(exc)
        else:
            kinds = (type(exc).__name__,)
            notes = "\n".join(getattr(exc, "__notes__", []))
            text = f"{type(exc).__name__}: {exc}\n{notes}"
        self.found.setdefault((label, *kinds), f"=== {label}\n{text}")

    def __bool__(self) -> bool:
        return bool(self.found)

    def __str__(self) -> str:
        return f"{len(self.found)} distinct failure(s):\n\n" + "\n\n".join(self.found.values())


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


# Bodies no schema-driven generator sends: JSON only in name, or JSON a Python service chokes on.
HOSTILE_BODIES = {
    "arrays nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "objects nested 50,000 deep": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "NaN and Infinity": b'{"email": NaN, "password": Infinity, "refresh_token": -Infinity}',
    "a 5,000-digit number": b'{"email": ' + b"9" * 5_000 + b"}",
    "invalid UTF-8": b'{"email": "\xff\xfe"}',
    "a top-level string": b'"x"',
}
# Passes the registration policy and any length limit, but cannot be encoded as UTF-8.
SURROGATES = "Aa1!" + "\ud800" * 12


def surrogate_body(operation: dict[str, Any]) -> bytes | None:
    """The operation's own body shape, every free-text field holding lone UTF-16 surrogates.

    Escaped surrogates (`"\\ud800"`) are valid JSON; Python decodes them to a `str` that cannot be
    encoded back to UTF-8 (password hashing, token hashing, database drivers).
    """
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    body = {
        name: new_email("surrogate") if name == "email" else SURROGATES
        for name in schema.get("properties", {})
    }
    if SURROGATES not in body.values():
        return None  # only emails, which are checked before anything encodes them
    return json.dumps(body).encode()  # ensure_ascii: the surrogates travel as escapes


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
