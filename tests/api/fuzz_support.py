"""What the fuzz test (tests/api/test_fuzz.py) is made of: the checks every response must pass,
the client that sends cases as the right user, the findings of a run, and hostile bodies."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.api.fuzz_catalog import CatalogPool, StaffToken, is_staff_write
from tests.support import new_email

AUTHENTICATED = frozenset(
    {
        "/accounts/me/",
        "/accounts/logout/",
        "/cart/",
        "/cart/add/",
        "/cart/items/",
        "/cart/items/{movie_uuid}/",
        "/orders/",
        "/orders/create/",
        "/orders/{order_id}/",
        "/purchases/",
    }
)
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
