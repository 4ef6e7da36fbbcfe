"""Currencies and amounts as Stripe enforces them: minor units, minimum and maximum charges.

Amounts are integers in the currency's minor unit (cents; yen for zero-decimal currencies).
Minimums are the ones Stripe publishes for card charges (docs.stripe.com/currencies,
"Minimum and maximum charge amounts"); the maximum is eight digits. Only currencies with a
published minimum are accepted: a currency the emulator refuses may still work on Stripe, but
code that works here never sends Stripe an amount Stripe would refuse.
"""

from __future__ import annotations

from devstack.stripe_emulator.wire import StripeError, invalid

__all__ = ["MAX_AMOUNT", "MINIMUMS", "check_amount", "check_currency", "display", "exponent"]

# minor units, by lowercase ISO code
MINIMUMS: dict[str, int] = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}
ZERO_DECIMAL = frozenset(
    ("bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"),
) | frozenset(("pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"))
MAX_AMOUNT = 99_999_999
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "aud": "A$", "cad": "CA$"}


def exponent(currency: str) -> int:
    return 0 if currency in ZERO_DECIMAL else 2


def display(amount: int, currency: str) -> str:
    """`$0.50`, `€12.00`, `¥50`, `15.00 CZK`: how the emulator shows an amount to people."""
    digits = exponent(currency)
    number = f"{amount / 10**digits:,.{digits}f}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{number} {currency.upper()}"


def check_currency(value: str, param: str) -> str:
    currency = value.lower()
    if currency != value or currency not in MINIMUMS:
        raise invalid(
            f"Invalid currency: {value}. The Stripe emulator supports these currencies "
            f"(lowercase ISO codes): {', '.join(sorted(MINIMUMS))}.",
            param=param,
        )
    return currency


def check_amount(amount: int, currency: str, param: str, *, what: str = "Amount") -> None:
    """Stripe's minimum for the currency and its eight-digit maximum."""
    if amount < MINIMUMS[currency]:
        raise StripeError(
            400,
            f"{what} must be at least {display(MINIMUMS[currency], currency)} {currency}",
            param=param,
            code="amount_too_small",
        )
    if amount > MAX_AMOUNT:
        raise StripeError(
            400,
            f"{what} must be no more than {display(MAX_AMOUNT, currency)} {currency}",
            param=param,
            code="amount_too_large",
        )
