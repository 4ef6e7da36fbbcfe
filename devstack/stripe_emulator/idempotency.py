"""`Idempotency-Key` on POST requests, as Stripe documents it (docs.stripe.com/idempotency).

The first request with a key runs; its status and body are saved (successes, card errors and
500s alike) and every later request with the same key and the same parameters gets that saved
answer again, marked `Idempotent-Replayed: true`. The same key with other parameters, or on
another endpoint, is an `idempotency_error` (400). Requests that fail validation or
authentication, are rate limited or not found save nothing (no endpoint began executing), so
they may be retried with the same key. Keys are scoped to the API key, at most 255 characters,
and pruned after 24 hours. (Stripe answers 409 `idempotency_key_in_use` to a second request
while the first is still running; here a request runs to completion before the next one with
the same key is looked at, so that cannot happen.)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from devstack.stripe_emulator.store import Store
from devstack.stripe_emulator.wire import Params, StripeError, invalid

__all__ = ["Idempotency", "Saved"]

KEY_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Saved:
    status: int
    body: str
    request_id: str


def _is_saved(status: int) -> bool:
    return status < 400 or status == 402 or status >= 500


class Idempotency:
    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _slot(api_key: str, key: str) -> str:
        return f"{hashlib.sha256(api_key.encode()).hexdigest()[:16]}:{key}"

    def begin(self, api_key: str, key: str, method: str, path: str, params: Params) -> Saved | None:
        """The saved answer to replay, or None: run the request, then `finish`."""
        if not key or len(key) > 255:
            raise invalid("Idempotency keys must be 1 to 255 characters long.")
        self._prune()
        record: dict[str, Any] | None = self.store.idempotency.get(self._slot(api_key, key))
        if record is None:
            return None
        endpoint = f"{method} {path}"
        if record["endpoint"] != endpoint:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used for the same endpoint they were "
                f"first used for ('{record['endpoint']}' vs '{endpoint}'). Try using a key other "
                f"than '{key}' if you meant to execute a different request.",
                type="idempotency_error",
            )
        if record["params"] != params:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
            )
        return Saved(record["status"], record["body"], record["request_id"])

    def finish(
        self,
        api_key: str,
        key: str,
        *,
        endpoint: str,
        params: Params,
        status: int,
        body: str,
        request_id: str,
    ) -> None:
        if _is_saved(status):
            self.store.idempotency[self._slot(api_key, key)] = {
                "endpoint": endpoint,
                "params": params,
                "status": status,
                "body": body,
                "request_id": request_id,
                "created": self.store.now(),
            }
            self.store.changed()

    def _prune(self) -> None:
        horizon = self.store.now() - KEY_TTL_SECONDS
        stale = [k for k, r in self.store.idempotency.items() if r["created"] < horizon]
        for slot in stale:
            del self.store.idempotency[slot]
