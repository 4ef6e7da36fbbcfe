"""The hosted payment page at each session's `url` (`/c/pay/{session_id}`).

It shows the line items and the total and takes a card: one of Stripe's test cards
(`cards.py`). A good card completes the session and redirects (303) to `success_url` with
`{CHECKOUT_SESSION_ID}` filled in; a declined one shows Stripe's message on the page and leaves
the session open; an expired or completed session shows why it cannot be paid. The back link
goes to `cancel_url`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, render_template, request

from devstack.stripe_emulator.cards import TEST_CARDS
from devstack.stripe_emulator.money import display
from devstack.stripe_emulator.payments import pay_session
from devstack.stripe_emulator.wire import StripeError

if TYPE_CHECKING:
    from devstack.stripe_emulator.app import Emulator

__all__ = ["page_blueprint"]

_HINTS = (
    ("4242 4242 4242 4242", "succeeds"),
    ("4000 0000 0000 0002", "declined"),
    ("4000 0000 0000 9995", "insufficient funds"),
)


def _split_expiry(value: str) -> tuple[str | None, str | None]:
    month, _, year = value.replace(" ", "").partition("/")
    return (month or None, year or None)


def page_blueprint(emu: Emulator) -> Blueprint:
    bp = Blueprint("stripe_emulator_page", __name__, template_folder="templates")
    store = emu.store

    async def render(session: dict[str, Any], error: str | None, status: int) -> Response:
        items = store.line_items.get(session["id"], [])
        currency = session["currency"]
        html = await render_template(
            "checkout.html",
            session=session,
            items=[
                {
                    "name": item["description"],
                    "quantity": item["quantity"],
                    "unit": display(item["price"]["unit_amount"], currency),
                    "total": display(item["amount_total"], currency),
                }
                for item in items
            ],
            total=display(session["amount_total"], currency),
            error=error,
            hints=_HINTS,
            test_cards=len(TEST_CARDS),
        )
        return Response(html, status, content_type="text/html; charset=utf-8")

    def find(session_id: str) -> dict[str, Any] | None:
        return store.sessions.get(session_id)

    @bp.get("/c/pay/<session_id>")
    async def show(session_id: str) -> Response:
        session = find(session_id)
        if session is None:
            return Response("No such Checkout Session.", 404, content_type="text/plain")
        return await render(session, None, 200)

    @bp.post("/c/pay/<session_id>")
    async def pay(session_id: str) -> Response:
        session = find(session_id)
        if session is None:
            return Response("No such Checkout Session.", 404, content_type="text/plain")
        form = await request.form
        month, year = _split_expiry(form.get("cardExpiry", ""))
        fields = {
            "number": form.get("cardNumber", ""),
            "exp_month": month,
            "exp_year": year,
            "cvc": form.get("cardCvc", ""),
            "email": form.get("email") or None,
            "name": form.get("billingName") or None,
        }
        try:
            pay_session(store, emu.events, session, fields)
        except StripeError as exc:
            return await render(session, exc.message, exc.status)
        target = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])
        return Response("", 303, headers={"Location": target})

    return bp
