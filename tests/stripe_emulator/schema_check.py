"""A structural check of Stripe JSON against the schemas extracted from Stripe's OpenAPI
description (`schemas/stripe_openapi_extract.json`, see `schemas/SOURCE.md`).

`problems(obj, "charge")` lists what does not fit: a required property missing, a property
Stripe's schema does not have, a `null` where the schema does not allow one, a wrong type, a
value outside an enum. `$ref`s to extracted schemas are checked recursively; others only as
"an object". (No JSON Schema library is installed; OpenAPI 3.0's `nullable` needs this anyway.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMAS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "schemas" / "stripe_openapi_extract.json").read_text()
)["components"]["schemas"]

_TYPES: dict[str, Any] = {
    "string": str,
    "boolean": bool,
    "object": dict,
    "array": list,
}


def _type_ok(value: Any, expected: str) -> bool:
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[expected])


def _check_value(value: Any, spec: dict[str, Any], where: str, out: list[str]) -> None:
    if value is None:
        if not spec.get("nullable"):
            out.append(f"{where}: null, but the schema does not allow null")
        return
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[-1]
        if name in SCHEMAS:
            _check_object(value, SCHEMAS[name], where, out)
        elif not isinstance(value, dict):
            out.append(f"{where}: expected an object ({name}), got {type(value).__name__}")
        return
    if "anyOf" in spec:
        for alternative in spec["anyOf"]:
            attempt: list[str] = []
            _check_value(value, alternative, where, attempt)
            if not attempt:
                return
        out.append(f"{where}: {value!r:.60} matches none of {spec['anyOf']}")
        return
    expected = spec.get("type")
    if expected is not None and not _type_ok(value, expected):
        out.append(f"{where}: expected {expected}, got {type(value).__name__} {value!r:.60}")
        return
    if "enum" in spec and value not in spec["enum"]:
        out.append(f"{where}: {value!r} is not one of {spec['enum']}")
    if expected == "array" and "items" in spec:
        for i, item in enumerate(value):
            _check_value(item, spec["items"], f"{where}[{i}]", out)
    if expected == "object" and "properties" in spec:
        _check_object(value, spec, where, out)
    if expected == "object" and isinstance(spec.get("additionalProperties"), dict):
        for key, item in value.items():
            _check_value(item, spec["additionalProperties"], f"{where}.{key}", out)


def _check_object(obj: Any, schema: dict[str, Any], where: str, out: list[str]) -> None:
    if not isinstance(obj, dict):
        out.append(f"{where}: expected an object, got {type(obj).__name__}")
        return
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in obj:
            out.append(f"{where}.{name}: required, missing")
    for name, value in obj.items():
        if name not in properties:
            out.append(f"{where}.{name}: not a property of this object in Stripe's schema")
            continue
        _check_value(value, properties[name], f"{where}.{name}", out)


def problems(obj: Any, schema: str) -> list[str]:
    out: list[str] = []
    _check_object(obj, SCHEMAS[schema], schema, out)
    return out


def assert_fits(obj: Any, schema: str) -> None:
    found = problems(obj, schema)
    assert not found, f"{schema} does not fit Stripe's schema:\n" + "\n".join(found)
