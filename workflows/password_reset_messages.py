"""Dataclasses crossing the password-reset workflow boundary.

Names are part of running histories: never rename a class field; add new fields with defaults.
No field holds a token, a password or an email: ids, SHA-256 token hashes, nonces, and the
argon2id hash of the new password (what the users table stores anyway) only.
"""

# Annotations stay evaluated (no `from __future__ import annotations`): Temporal's data converter
# calls typing.get_type_hints on every dataclass it decodes, and string ones cost it ~3x more.
from dataclasses import dataclass
from datetime import datetime


@dataclass
class PasswordResetInput:
    user_id: int
    token_ttl_seconds: int
    email_retry_max_interval_seconds: int = 60


@dataclass
class PasswordResetResult:
    outcome: str  # "completed" | "expired" | "not_eligible"


@dataclass
class RequestPasswordReset:
    """Signal (with start): issue a new token; it replaces (and so invalidates) the old one."""


@dataclass
class CompleteResetRequest:
    """Update: set the password, given the SHA-256 of the emailed token."""

    token_hash: str
    password_hash: str  # argon2id, made by the API: the password itself never reaches history


@dataclass
class CompleteResetResult:
    reset: bool


@dataclass
class PasswordResetStatus:
    state: str
    user_id: int
    token_expires_at: datetime | None = None
    reset_emails_sent: int = 0
    requests: int = 0


# --- activities -------------------------------------------------------------------------------


@dataclass
class IssuePasswordResetToken:
    user_id: int
    nonce: str
    expires_at: datetime


@dataclass
class IssuePasswordResetTokenResult:
    eligible: bool  # False: no such user, or not active (no token was issued)
    token_hash: str = ""


@dataclass
class ResetPassword:
    user_id: int
    token_hash: str
    password_hash: str


@dataclass
class ResetPasswordResult:
    reset: bool


@dataclass
class InvalidatePasswordResetToken:
    user_id: int
