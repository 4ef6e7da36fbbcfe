"""Stripe's wire protocol: nested form parameters, the error shape, API keys, ids.

Requests to `/v1` are `application/x-www-form-urlencoded` (POST bodies) or query strings (GET)
with nested keys: `line_items[0][price_data][unit_amount]=500`, `metadata[order_id]=7`,
`expand[]=payment_intent` (curl) or `expand[0]=payment_intent` (stripe-python). Errors are
`{"error": {"type", "code", "message", "param", "doc_url"}}` with Stripe's HTTP statuses; the
`type` is one of the four values Stripe's OpenAPI description allows (`api_error`, `card_error`,
`idempotency_error`, `invalid_request_error`): 401 and 429 are `invalid_request_error` too.
"""

from __future__ import annotations

import base64
import re
import secrets
import string
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "Params",
    "StripeError",
    "api_key_from_header",
    "check_api_key",
    "decode_params",
    "invalid",
    "missing",
    "new_id",
    "not_found",
    "opt_bool",
    "opt_dict",
    "opt_int",
    "opt_list",
    "opt_str",
    "reject_unknown",
]

Params = dict[str, Any]

_ALNUM = string.ascii_letters + string.digits
_KEY_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_SECRET_KEY = re.compile(r"^sk_test_[0-9A-Za-z]{8,247}$")
DOCS = "https://stripe.com/docs"


def new_id(prefix: str, length: int = 24) -> str:
    """A Stripe-looking id: `pi_3Pq...` (prefix + random letters and digits)."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


class StripeError(Exception):
    """An error answered in Stripe's shape, with Stripe's HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS}/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code)


def missing(param: str) -> StripeError:
    return invalid(f"Missing required param: {param}.", param=param, code="parameter_missing")


def not_found(kind: str, object_id: str, param: str) -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", param=param, code="resource_missing")


# ----------------------------------------------------------------------------- API keys
def api_key_from_header(authorization: str | None) -> str | None:
    """The key of `Authorization: Bearer sk_...` or of HTTP basic auth (`curl -u sk_...:`)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except ValueError:
            return None
        return decoded.partition(":")[0] or None
    return None


def _masked(key: str) -> str:
    prefix, _, rest = key.rpartition("_")
    if not prefix or len(rest) <= 4:
        return "*" * len(key)
    return f"{prefix}_{'*' * (len(rest) - 4)}{rest[-4:]}"


def check_api_key(key: str | None, accepted: str | None) -> None:
    """401 unless `key` is a well-formed test secret key (and the accepted one, if set)."""
    if key is None:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details.",
        )
    if not _SECRET_KEY.match(key) or (accepted is not None and key != accepted):
        live = key.startswith(("sk_live_", "rk_live_"))
        hint = " (this emulator is test mode only)" if live else ""
        raise StripeError(401, f"Invalid API Key provided: {_masked(key)}{hint}")


# ----------------------------------------------------------------------------- parameters
def _path_of(key: str) -> list[str]:
    head, bracket, _ = key.partition("[")
    if not bracket:
        return [key]
    tail = key[len(head) :]
    segments = _KEY_SEGMENT.findall(tail)
    if "".join(f"[{s}]" for s in segments) != tail or not head:
        raise invalid(f"Invalid parameter name: {key}", param=key)
    return [head, *segments]


def _listify(node: Any, name: str) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v, f"{name}[{k}]") for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        indexes = sorted(int(k) for k in converted)
        if indexes != list(range(len(indexes))):
            raise invalid(f"Invalid array: {name} (indexes must start at 0, no gaps)", param=name)
        return [converted[str(i)] for i in indexes]
    return converted


def decode_params(pairs: Iterable[tuple[str, str]]) -> Params:
    """Nested Stripe form parameters to dicts and lists (arrays from `a[]` or `a[0]`)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        path = _path_of(key)
        node = root
        for depth, segment in enumerate(path):
            last = depth == len(path) - 1
            if segment == "":  # `expand[]=x`: append
                segment = str(len(node))
            if last:
                if isinstance(node.get(segment), dict):
                    raise invalid(f"Invalid hash: {key}", param=key)
                node[segment] = value
            else:
                child = node.setdefault(segment, {})
                if not isinstance(child, dict):
                    raise invalid(f"Invalid hash: {key}", param=key)
                node = child
    return {k: _listify(v, k) for k, v in root.items()}


def reject_unknown(params: Mapping[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    """Stripe refuses parameters it does not know; so does the emulator for ones it lacks."""
    known = set(allowed)
    for name in params:
        if name not in known:
            full = f"{prefix}[{name}]" if prefix else name
            raise invalid(
                f"Received unknown parameter: {full} (unknown to Stripe, or not implemented "
                "by the Stripe emulator)",
                param=full,
                code="parameter_unknown",
            )


def opt_str(params: Mapping[str, Any], name: str, param: str | None = None) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {param or name}", param=param or name)
    return value


def opt_int(
    params: Mapping[str, Any], name: str, param: str | None = None, *, minimum: int | None = None
) -> int | None:
    value = params.get(name)
    label = param or name
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise invalid(f"Invalid integer: {value}", param=label, code="parameter_invalid_integer")
    number = int(value)
    if minimum is not None and number < minimum:
        raise invalid(
            f"This value must be greater than or equal to {minimum}.",
            param=label,
            code="parameter_invalid_integer",
        )
    return number


def opt_bool(params: Mapping[str, Any], name: str, param: str | None = None) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if value not in ("true", "false"):
        raise invalid(f"Invalid boolean: {value}", param=param or name)
    return value == "true"


def opt_dict(params: Mapping[str, Any], name: str, param: str | None = None) -> dict[str, Any]:
    value = params.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid hash: {param or name}", param=param or name)
    return value


def opt_list(params: Mapping[str, Any], name: str, param: str | None = None) -> list[Any]:
    value = params.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, str):  # `expand=payment_intent`: one element
        return [value]
    if not isinstance(value, list):
        raise invalid(f"Invalid array: {param or name}", param=param or name)
    return value
