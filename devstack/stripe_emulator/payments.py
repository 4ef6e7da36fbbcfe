"""Paying a Checkout Session (PaymentIntent + Charge) and refunding it.

Paying happens on the hosted page or through the control API, never through `/v1` (as with
Stripe, where Checkout confirms the payment). The PaymentIntent is created at the first attempt;
a declined card leaves the session open with a `requires_payment_method` intent (and emits
`payment_intent.payment_failed`); a good card completes both. Refunds never exceed what was
captured and not yet refunded; two refund test cards settle later (`pending` → `succeeded`, or
`succeeded` → `failed`), run by `run_due_timers`. Two "cards" stand for delayed payment methods:
the session completes `unpaid` with a `processing` intent, and `ASYNC_SETTLE_SECONDS` later (the
emulator's clock) the money succeeds or fails (`checkout.session.async_payment_*`).
"""

from __future__ import annotations

import datetime
from typing import Any

from devstack.stripe_emulator.cards import Card, card_error, read_card
from devstack.stripe_emulator.checkout import expire_session, metadata_of
from devstack.stripe_emulator.events import Events, RequestRef
from devstack.stripe_emulator.money import display
from devstack.stripe_emulator.objects import NO_ADDRESS
from devstack.stripe_emulator.payment_objects import (
    charge_object,
    payment_intent_object,
    refund_object,
)
from devstack.stripe_emulator.store import Store, paginate
from devstack.stripe_emulator.wire import (
    Params,
    StripeError,
    invalid,
    new_id,
    opt_int,
    opt_str,
    reject_unknown,
)

__all__ = ["create_refund", "list_refunds", "pay_session", "run_due_timers"]

REFUND_SETTLE_SECONDS = 2
# A delayed method settles days later at Stripe; here a minute (tests advance the clock).
ASYNC_SETTLE_SECONDS = 60
_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def _not_payable(session: dict[str, Any]) -> StripeError:
    if session["status"] == "expired":
        message = "This Checkout Session has expired. A new one must be created for this customer."
    else:
        message = "This Checkout Session is already complete; it cannot be paid again."
    return StripeError(400, message, code="checkout_session_not_open")


def pay_session(
    store: Store, events: Events, session: dict[str, Any], card_fields: dict[str, str | None]
) -> dict[str, Any]:
    """Pay `session` with the card; return the succeeded PaymentIntent or raise a card_error."""
    if session["status"] == "open" and session["expires_at"] <= store.now():
        expire_session(store, events, session)  # its time has come; the ticker was behind
    if session["status"] != "open":
        raise _not_payable(session)
    today = datetime.datetime.fromtimestamp(store.now(), datetime.UTC).date()
    card = read_card(
        card_fields.get("number") or "",
        card_fields.get("exp_month"),
        card_fields.get("exp_year"),
        card_fields.get("cvc"),
        today=today,
    )
    intent = _intent_for(store, session)
    email = card_fields.get("email") or session["customer_email"]
    payment_method = new_id("pm_1")
    charge = charge_object(intent, card, payment_method, email, store.now())
    store.charges[charge["id"]] = charge
    store.extras[charge["id"]] = {"refund": card.profile.refund}
    intent.update(latest_charge=charge["id"], payment_method=payment_method)
    if card.profile.declines:
        return _declined(store, events, intent, charge, card)
    delayed = card.profile.delayed
    if delayed is not None:
        intent.update(status="processing", last_payment_error=None)
        charge.update(status="pending", paid=False, captured=False, amount_captured=0)
        events.emit("payment_intent.processing", intent)
        store.timers.append({"at": store.now() + ASYNC_SETTLE_SECONDS, "kind": "async_payment",
                             "id": session["id"], "to": delayed})  # fmt: skip
    else:
        intent.update(status="succeeded", amount_received=intent["amount"], last_payment_error=None)
        events.emit("payment_intent.succeeded", intent)
    session.update(
        status="complete",
        payment_status="unpaid" if delayed is not None else "paid",
        url=None,
        customer_details={
            "address": dict(NO_ADDRESS),
            "email": email,
            "name": card_fields.get("name") or None,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
    )
    events.emit("checkout.session.completed", session)
    store.changed()
    return intent


def _intent_for(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    existing = session.get("payment_intent")
    if existing:
        intent: dict[str, Any] = store.payment_intents[existing]
        return intent
    extras = store.extras.get(session["id"], {})
    intent = payment_intent_object(
        amount=session["amount_total"],
        currency=session["currency"],
        created=store.now(),
        metadata=dict(extras.get("payment_intent_metadata", {})),
        description=extras.get("payment_intent_description"),
    )
    store.payment_intents[intent["id"]] = intent
    session["payment_intent"] = intent["id"]
    return intent


def _declined(
    store: Store, events: Events, intent: dict[str, Any], charge: dict[str, Any], card: Card
) -> dict[str, Any]:
    profile = card.profile
    assert profile.code is not None and profile.message is not None
    error = card_error(
        profile.code, profile.message, charge=charge["id"], decline_code=profile.decline_code or ""
    )
    intent.update(status="requires_payment_method", last_payment_error=error.body()["error"])
    events.emit("payment_intent.payment_failed", intent)
    store.changed()
    error.extra["payment_intent"] = dict(intent)
    raise error


# ----------------------------------------------------------------------------- refunds
def _refundable(store: Store, params: Params) -> dict[str, Any]:
    charge_id, intent_id = opt_str(params, "charge"), opt_str(params, "payment_intent")
    if charge_id is None and intent_id is None:
        raise invalid("One of `charge` or `payment_intent` is required.")
    if intent_id is not None:
        intent = store.get(intent_id, param="payment_intent", kind="payment_intent")
        if intent["status"] != "succeeded" or not intent["latest_charge"]:
            raise invalid(
                f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        if charge_id is not None and charge_id != intent["latest_charge"]:
            raise invalid(f"Charge {charge_id} does not belong to PaymentIntent {intent_id}.",
                          param="charge")  # fmt: skip
        charge_id = intent["latest_charge"]
    assert charge_id is not None
    charge = store.get(charge_id, param="charge", kind="charge")
    if charge["status"] != "succeeded":
        raise invalid(f"Charge {charge_id} has not succeeded and cannot be refunded.",
                      param="charge")  # fmt: skip
    return charge


def create_refund(
    store: Store, events: Events, params: Params, request: RequestRef
) -> dict[str, Any]:
    reject_unknown(params, ("charge", "payment_intent", "amount", "reason", "metadata", "expand"))
    charge = _refundable(store, params)
    remaining = charge["amount_captured"] - charge["amount_refunded"]
    if remaining <= 0:
        raise StripeError(400, f"Charge {charge['id']} has already been refunded.",
                          code="charge_already_refunded")  # fmt: skip
    amount = opt_int(params, "amount", minimum=1)
    if amount is None:
        amount = remaining
    if amount > remaining:
        currency = charge["currency"]
        raise invalid(
            f"Refund amount ({display(amount, currency)}) is greater than unrefunded amount on "
            f"charge ({display(remaining, currency)})",
            param="amount",
        )
    reason = opt_str(params, "reason")
    if reason is not None and reason not in _REASONS:
        raise invalid(f"Invalid reason: must be one of {', '.join(_REASONS)}", param="reason")
    behaviour = store.extras.get(charge["id"], {}).get("refund", "succeeded")
    refund = refund_object(
        charge,
        amount,
        store.now(),
        status="pending" if behaviour == "pending_then_succeeded" else "succeeded",
        reason=reason,
        metadata=metadata_of(params),
    )
    store.refunds[refund["id"]] = refund
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
    events.emit("refund.created", refund, request=request)
    events.emit("charge.refunded", charge, previous=previous, request=request)
    if behaviour != "succeeded":
        target = "succeeded" if behaviour == "pending_then_succeeded" else "failed"
        store.timers.append({"at": store.now() + REFUND_SETTLE_SECONDS, "kind": "refund",
                             "id": refund["id"], "to": target})  # fmt: skip
    store.changed()
    return refund


def _settle_refund(store: Store, events: Events, refund: dict[str, Any], to: str) -> None:
    previous = {"status": refund["status"]}
    refund["status"] = to
    if to == "failed":
        charge = store.charges[refund["charge"]]
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = False
        refund.update(
            failure_reason="expired_or_canceled_card",
            failure_balance_transaction=new_id("txn_3"),
        )
    events.emit("refund.updated", refund, previous=previous)
    if to == "failed":
        events.emit("refund.failed", refund)


def _settle_async_payment(store: Store, events: Events, session: dict[str, Any], to: str) -> None:
    intent = store.payment_intents[session["payment_intent"]]
    charge = store.charges[intent["latest_charge"]]
    if to == "succeeds":
        charge.update(status="succeeded", paid=True, captured=True,
                      amount_captured=charge["amount"])  # fmt: skip
        intent.update(status="succeeded", amount_received=intent["amount"])
        session["payment_status"] = "paid"
        events.emit("payment_intent.succeeded", intent)
        events.emit("checkout.session.async_payment_succeeded", session)
        return
    error = {"type": "invalid_request_error", "code": "payment_method_not_available",
             "message": "The debit was returned by the customer's bank."}  # fmt: skip
    charge.update(status="failed", failure_code=error["code"], failure_message=error["message"])
    intent.update(status="requires_payment_method", last_payment_error=error)
    events.emit("payment_intent.payment_failed", intent)
    events.emit("checkout.session.async_payment_failed", session)


def run_due_timers(store: Store, events: Events) -> None:
    """Expire open sessions whose `expires_at` has passed; settle refunds that are due."""
    now = store.now()
    for session in list(store.sessions.values()):
        if session["status"] == "open" and session["expires_at"] <= now:
            expire_session(store, events, session)
    due = [t for t in store.timers if t["at"] <= now]
    for timer in due:
        store.timers.remove(timer)
        if timer["kind"] == "async_payment" and timer["id"] in store.sessions:
            _settle_async_payment(store, events, store.sessions[timer["id"]], timer["to"])
            continue
        refund = store.refunds.get(timer["id"])
        if timer["kind"] == "refund" and refund is not None:
            _settle_refund(store, events, refund, timer["to"])
    if due:
        store.changed()


def list_refunds(store: Store, params: Params) -> dict[str, Any]:
    reject_unknown(params, ("charge", "payment_intent", "limit", "starting_after",
                            "ending_before", "expand"))  # fmt: skip
    charge, intent = opt_str(params, "charge"), opt_str(params, "payment_intent")
    refunds = [
        r
        for r in store.refunds.values()
        if (charge is None or r["charge"] == charge)
        and (intent is None or r["payment_intent"] == intent)
    ]
    return paginate(refunds, params, "/v1/refunds", "refund")
