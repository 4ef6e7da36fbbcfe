"""One JSON error body everywhere: {"error", "detail"} (+ "fields" for validation failures)."""

from __future__ import annotations

import logging
from typing import Any

import redis.exceptions
from pydantic import ValidationError
from quart import Quart, Response, jsonify
from quart_schema import RequestSchemaValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from temporalio.service import RPCError, RPCStatusCode
from werkzeug.exceptions import HTTPException

from domain.errors import DomainError, RateLimited, ServiceUnavailable

log = logging.getLogger("cinema.api")

SERVICE_RETRY_AFTER = "5"  # seconds, on every 503
_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class MalformedJSON(HTTPException):
    code = 400
    description = "The request body is not valid JSON."


class NotJSON(HTTPException):
    code = 400
    description = "Send a JSON object with Content-Type: application/json."


def error_response(status: int, code: str, detail: str, **extra: Any) -> Response:
    body: dict[str, Any] = {"error": code, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    response = jsonify(body)
    response.status_code = status
    return response


def _validation_fields(error: ValidationError, where: str) -> list[dict[str, Any]]:
    # include_input=False: a rejected value (a password!) is never echoed back.
    fields = []
    for item in error.errors(include_input=False, include_url=False):
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        fields.append({"loc": [where, *item["loc"]], "msg": message, "type": item["type"]})
    return fields


def _service_unavailable(what: str) -> Response:
    response = error_response(
        503, "service_unavailable", f"{what} is unavailable; try again shortly."
    )
    response.headers["Retry-After"] = SERVICE_RETRY_AFTER
    return response


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(DomainError)
    async def domain_error(exc: DomainError) -> Response:
        response = error_response(exc.status, exc.code, exc.detail, **exc.extra)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        elif isinstance(exc, ServiceUnavailable):
            response.headers["Retry-After"] = SERVICE_RETRY_AFTER
        return response

    @app.errorhandler(RequestSchemaValidationError)
    async def request_validation(exc: RequestSchemaValidationError) -> Response:
        inner = exc.validation_error
        where = "query" if type(exc).__name__ == "QuerystringValidationError" else "body"
        if isinstance(inner, ValidationError):
            fields = _validation_fields(inner, where)
            summary = "; ".join(
                f"{'.'.join(map(str, f['loc'][1:])) or f['loc'][0]}: {f['msg']}" for f in fields
            )
            return error_response(
                422, "validation_error", summary or "Invalid request.", fields=fields
            )
        return error_response(
            400,
            "invalid_body",
            "The request body must be a JSON object (Content-Type: application/json).",
        )

    @app.errorhandler(MalformedJSON)
    async def malformed_json(exc: MalformedJSON) -> Response:
        return error_response(400, "malformed_json", "The request body is not valid JSON.")

    @app.errorhandler(NotJSON)
    async def not_json(exc: NotJSON) -> Response:
        return error_response(400, "invalid_body", str(exc.description))

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        detail = exc.description or exc.name
        if status == 413:
            detail = "The request body is too large."
        response = error_response(status, _HTTP_CODES.get(status, "http_error"), detail)
        if status == 405 and (allowed := getattr(exc, "valid_methods", None)):
            response.headers["Allow"] = ", ".join(sorted(allowed))
        return response

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    async def redis_down(exc: Exception) -> Response:
        log.warning("redis unavailable: %s", type(exc).__name__)
        return _service_unavailable("Redis")

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeoutError)
    @app.errorhandler(ConnectionError)
    @app.errorhandler(OSError)
    async def database_down(exc: Exception) -> Response:
        log.warning("database unavailable: %s", type(exc).__name__)
        return _service_unavailable("The database")

    @app.errorhandler(DBAPIError)
    async def database_error(exc: DBAPIError) -> Response:
        if exc.connection_invalidated:
            return _service_unavailable("The database")
        log.exception("database error")
        return error_response(500, "internal_error", "An unexpected error occurred.")

    @app.errorhandler(RPCError)
    async def temporal_error(exc: RPCError) -> Response:
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return _service_unavailable("The workflow service")
        log.exception("temporal rpc error")
        return error_response(500, "internal_error", "An unexpected error occurred.")

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "An unexpected error occurred.")
