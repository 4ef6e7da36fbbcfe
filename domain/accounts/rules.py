"""Pure rules for accounts: email normalisation and the password policy."""

from __future__ import annotations

from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field

PASSWORD_MIN_LENGTH = 8
# Caps the hashing cost an attacker can make us pay; well above any passphrase.
PASSWORD_MAX_LENGTH = 128
PASSWORD_SPECIALS = "@$!%*?&"
PASSWORD_RULE = (
    f"Password must contain {PASSWORD_MIN_LENGTH}-{PASSWORD_MAX_LENGTH} characters, at least one "
    f"uppercase and lowercase letter, a number and a special character ({PASSWORD_SPECIALS})."
)
EMAIL_MAX_LENGTH = 254


def normalize_email(value: str) -> str:
    """Syntax-check an email and return its one canonical form: the whole address lower-cased.

    Every lookup compares this form exactly (never LIKE), so one mailbox can never match another.
    """
    if len(value) > EMAIL_MAX_LENGTH:
        raise ValueError("Email address is too long.")
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"Invalid email address: {exc}") from None
    return result.normalized.lower()


def check_password_strength(password: str) -> str:
    ok = (
        PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH
        and any(c.islower() for c in password)
        and any(c.isupper() for c in password)
        and any(c.isdigit() for c in password)
        and any(c in PASSWORD_SPECIALS for c in password)
    )
    if not ok:
        raise ValueError(PASSWORD_RULE)
    return password


Email = Annotated[str, AfterValidator(normalize_email)]
NewPassword = Annotated[str, AfterValidator(check_password_strength)]
# A password presented for login: only bounded, never policy-checked (that would leak the policy).
PresentedPassword = Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)]
