"""Stripe's test cards (docs.stripe.com/testing) and what each one does.

A card is given as a number plus optional expiry and CVC (the hosted page asks for them; the
control API fills in a future expiry). Input mistakes and declines are `card_error`s with
Stripe's codes and messages; a Luhn-valid number that is not a test card is declined as a
live card used in test mode, as Stripe does.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass

from devstack.stripe_emulator.wire import StripeError

__all__ = ["TEST_CARDS", "Card", "CardProfile", "card_error", "read_card"]

_DECLINED = "Your card was declined."


@dataclass(frozen=True)
class CardProfile:
    brand: str  # as on payment_method_details.card.brand
    funding: str = "credit"
    country: str = "US"
    code: str | None = None  # card_error code when the charge is declined
    decline_code: str | None = None
    message: str | None = None
    # how a refund of a charge on this card settles: at once, pending then succeeded, or
    # succeeded then failed (Stripe's refund test cards)
    refund: str = "succeeded"
    # A delayed payment method (as SEPA Direct Debit or ACH are at Stripe): the page completes
    # with `payment_status` unpaid and the money `succeeds` or `fails` later
    # (checkout.session.async_payment_succeeded / _failed). Emulator-only numbers.
    delayed: str | None = None

    @property
    def declines(self) -> bool:
        return self.code is not None


TEST_CARDS: dict[str, CardProfile] = {
    "4242424242424242": CardProfile("visa"),
    "4000056655665556": CardProfile("visa", funding="debit"),
    "5555555555554444": CardProfile("mastercard"),
    "378282246310005": CardProfile("amex"),
    "4000000000000002": CardProfile("visa", code="card_declined", decline_code="generic_decline",
                                    message=_DECLINED),
    "4000000000009995": CardProfile("visa", code="card_declined",
                                    decline_code="insufficient_funds",
                                    message="Your card has insufficient funds."),
    "4000000000009987": CardProfile("visa", code="card_declined", decline_code="lost_card",
                                    message=_DECLINED),
    "4000000000009979": CardProfile("visa", code="card_declined", decline_code="stolen_card",
                                    message=_DECLINED),
    "4000000000000069": CardProfile("visa", code="expired_card", decline_code="expired_card",
                                    message="Your card has expired."),
    "4000000000000127": CardProfile("visa", code="incorrect_cvc", decline_code="incorrect_cvc",
                                    message="Your card's security code is incorrect."),
    "4000000000000119": CardProfile("visa", code="processing_error",
                                    decline_code="processing_error",
                                    message="An error occurred while processing your card. "
                                    "Try again in a little bit."),
    "4000000000007726": CardProfile("visa", refund="pending_then_succeeded"),
    "4000000000005126": CardProfile("visa", refund="succeeded_then_failed"),
    "4000000000006009": CardProfile("visa", delayed="succeeds"),
    "4000000000006017": CardProfile("visa", delayed="fails"),
}  # fmt: skip


@dataclass(frozen=True)
class Card:
    number: str
    exp_month: int
    exp_year: int
    profile: CardProfile

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.number.encode()).hexdigest()[:16]


def card_error(code: str, message: str, *, param: str | None = None, **extra: str) -> StripeError:
    return StripeError(402, message, type="card_error", code=code, param=param, extra=extra)


def _luhn_ok(number: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(number)):
        digit = int(char)
        if i % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def read_card(
    number: str,
    exp_month: str | None,
    exp_year: str | None,
    cvc: str | None,
    *,
    today: datetime.date,
) -> Card:
    """Validate what a customer typed; raise the `card_error` Stripe would."""
    digits = re.sub(r"[\s-]", "", number or "")
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not _luhn_ok(digits):
        raise card_error("incorrect_number", "Your card number is incorrect.", param="number")
    month = int(exp_month) if exp_month and exp_month.isdigit() else today.month
    year = int(exp_year) if exp_year and exp_year.isdigit() else today.year + 2
    if year < 100:
        year += 2000
    if not 1 <= month <= 12:
        raise card_error(
            "invalid_expiry_month", "Your card's expiration month is invalid.", param="exp_month"
        )
    if (year, month) < (today.year, today.month):
        raise card_error(
            "invalid_expiry_year", "Your card's expiration year is in the past.", param="exp_year"
        )
    if cvc is not None and cvc != "" and not re.fullmatch(r"\d{3,4}", cvc):
        raise card_error("invalid_cvc", "Your card's security code is invalid.", param="cvc")
    profile = TEST_CARDS.get(digits)
    if profile is None:
        raise card_error(
            "card_declined",
            "Your card was declined. Your request was in test mode, but used a non test (live) "
            "card. For a list of valid test cards, visit: https://stripe.com/docs/testing.",
            decline_code="test_mode_live_card",
        )
    return Card(digits, month, year, profile)
