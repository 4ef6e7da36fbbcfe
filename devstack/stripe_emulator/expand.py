"""`expand[]`: replace an id by the object it names, or include a list Stripe leaves out.

`expand[]=payment_intent` on a session, `expand[]=latest_charge` on a PaymentIntent,
`expand[]=data.payment_intent` on a list, nested paths (`payment_intent.latest_charge`), and
the two includable lists: a session's `line_items` and a charge's `refunds`. Anything else is
Stripe's "This property cannot be expanded" error.
"""

from __future__ import annotations

import copy
from typing import Any

from devstack.stripe_emulator.store import KINDS, Store, paginate
from devstack.stripe_emulator.wire import Params, invalid, opt_list

__all__ = ["expand"]

_MAX_DEPTH = 4


def _includable(store: Store, obj: dict[str, Any], field: str) -> dict[str, Any] | None:
    if obj.get("object") == "checkout.session" and field == "line_items":
        items = store.line_items.get(obj["id"], [])
        url = f"/v1/checkout/sessions/{obj['id']}/line_items"
        return paginate(items, {}, url, "item", newest_first=False)
    if obj.get("object") == "charge" and field == "refunds":
        refunds = [r for r in store.refunds.values() if r["charge"] == obj["id"]]
        return paginate(refunds, {}, f"/v1/charges/{obj['id']}/refunds", "refund")
    return None


def _expand_path(store: Store, obj: Any, path: list[str], full: str, index: int) -> None:
    if not path or not isinstance(obj, dict):
        return
    field, rest = path[0], path[1:]
    if obj.get("object") == "list" and field == "data":
        for item in obj["data"]:
            _expand_path(store, item, rest, full, index)
        return
    included = _includable(store, obj, field)
    if included is not None:
        obj[field] = included
        return
    value = obj.get(field, ...)
    if value is None:  # nothing to expand (e.g. no PaymentIntent yet)
        return
    if isinstance(value, str) and any(value.startswith(p) for p in KINDS):
        obj[field] = copy.deepcopy(store.get(value, param=f"expand[{index}]"))
        _expand_path(store, obj[field], rest, full, index)
        return
    if isinstance(value, dict) and rest:
        _expand_path(store, value, rest, full, index)
        return
    raise invalid(f"This property cannot be expanded ({full}).", param=f"expand[{index}]")


def expand(store: Store, body: dict[str, Any], params: Params) -> dict[str, Any]:
    paths = opt_list(params, "expand")
    if not paths:
        return body
    result = copy.deepcopy(body)
    for index, raw in enumerate(paths):
        if not isinstance(raw, str) or not raw:
            raise invalid(f"Invalid string: expand[{index}]", param=f"expand[{index}]")
        path = raw.split(".")
        if len(path) > _MAX_DEPTH:
            raise invalid(
                f"You cannot expand more than {_MAX_DEPTH} levels of a property ({raw}).",
                param=f"expand[{index}]",
            )
        _expand_path(store, result, path, raw, index)
    return result
