"""Dataclasses crossing the workflow boundary (inputs, results, signals, updates, activities).

Names are part of running histories: never rename a class field; add new fields with defaults.
No field holds a secret or personal data: ids, hashes and nonces only.
"""

# Annotations stay evaluated (no `from __future__ import annotations`): Temporal's data converter
# calls typing.get_type_hints on every dataclass it decodes, and string ones cost it ~3x more.
from dataclasses import dataclass
from datetime import datetime


@dataclass
class RegistrationInput:
    user_id: int
    activation_ttl_seconds: int
    email_retry_max_interval_seconds: int = 60


@dataclass
class RegistrationResult:
    outcome: str  # "activated" | "expired" | "already_active"


@dataclass
class ResendActivation:
    """Signal: deliver a fresh activation token (and extend the deadline)."""


@dataclass
class ActivateRequest:
    """Update: activate with the SHA-256 of the token the user presented."""

    token_hash: str


@dataclass
class ActivateResult:
    activated: bool


@dataclass
class RegistrationStatus:
    state: str
    user_id: int
    token_expires_at: datetime | None = None
    activation_emails_sent: int = 0
    resend_requests: int = 0


@dataclass
class AccountNoticeInput:
    user_id: int
    email_retry_max_interval_seconds: int = 60
    template: str = "account_exists"  # or "password_changed"; the default keeps old histories


# --- activities -------------------------------------------------------------------------------


@dataclass
class IssueActivationToken:
    user_id: int
    nonce: str
    expires_at: datetime


@dataclass
class IssueActivationTokenResult:
    already_active: bool


@dataclass
class SendAccountEmail:
    user_id: int
    template: str  # "activation" | "activation_confirmation" | "account_exists"
    nonce: str = ""
    expires_at: datetime | None = None


@dataclass
class ActivateAccount:
    user_id: int
    token_hash: str


@dataclass
class ActivateAccountResult:
    activated: bool


@dataclass
class InvalidateActivationToken:
    user_id: int


@dataclass
class CleanupInput:
    # Rows deleted per statement (per activity call), and statements per token kind per run: a
    # large backlog is worked off over several scheduled runs, never in one long lock.
    batch_size: int = 1000
    max_batches: int = 100


@dataclass
class CleanupBatch:
    kind: str  # "refresh" | "activation" | "password_reset"
    batch_size: int


@dataclass
class CleanupResult:
    refresh_tokens: int = 0
    activation_tokens: int = 0
    password_reset_tokens: int = 0
