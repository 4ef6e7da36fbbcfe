"""HTTP schemas shared by every resource."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from quart_schema import document_response

T = TypeVar("T")

# The OpenAPI security requirement of routes behind `@require_user`.
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]

# The description of every amount of money a response carries (a Decimal, sent as a string).
MONEY = 'A decimal string, e.g. "9.99".'


class Strict(BaseModel):
    """A request body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where the problem is, e.g. ['body', 'password'].")
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The one error shape of every endpoint."""

    error: str = Field(description="Stable, machine-readable error code.")
    detail: str = Field(description="Human-readable message.")
    fields: list[FieldError] | None = Field(
        default=None, description="Per-field problems, for validation errors."
    )


class MessageResponse(BaseModel):
    message: str


def error_responses(*statuses: int) -> Callable[[T], T]:
    """Document the error responses of a route in OpenAPI (all share ErrorBody)."""

    def decorator(func: T) -> T:
        wrapped: Any = func
        for status in statuses:
            wrapped = document_response(ErrorBody, status)(wrapped)
        return wrapped  # type: ignore[no-any-return,unused-ignore]

    return decorator
