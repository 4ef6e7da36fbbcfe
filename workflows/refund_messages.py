"""Dataclasses crossing the RefundWorkflow's boundary (input, result, query, activities).

Names are part of running histories: never rename a field; add new fields with defaults.
Ids and Stripe's words only: no email, no card data.
"""

# Annotations stay evaluated (no `from __future__ import annotations`): Temporal's data converter
# calls typing.get_type_hints on every dataclass it decodes, and string ones cost it ~3x more.
from dataclasses import dataclass


@dataclass
class RefundInput:
    refund_id: int
    order_id: int
    user_id: int
    # How often Stripe is asked about the refund when no event says it settled.
    poll_interval_seconds: int = 300
    email_retry_max_interval_seconds: int = 60
    # A run started by a Stripe event that fails the refund after this refund's own run ended
    # (signal-with-start): it only applies that late failure, once, and tells the buyer.
    late_failure: bool = False


@dataclass
class RefundResult:
    refund_id: int
    status: str  # succeeded | failed


@dataclass
class RefundProgress:
    """The `status` query: where the refund is, as an operator reads it."""

    state: str  # submitting | awaiting_stripe | settling | emailing | succeeded | failed
    refund_id: int
    order_id: int
    stripe_refund_id: str | None = None
    stripe_status: str | None = None
    failure_reason: str | None = None
    events_seen: int = 0
    polls: int = 0
    # Stripe failed the refund after it had succeeded, and that was applied (row failed again).
    failed_after_success: bool = False


# --- activities -------------------------------------------------------------------------------


@dataclass
class OpenUnappliedPaymentRefund:
    payment_id: int


@dataclass
class OpenedUnappliedRefund:
    refund_id: int
    order_id: int
    user_id: int
    created: bool = True  # False: the payment's refund existed already


@dataclass
class SubmitRefund:
    refund_id: int


@dataclass
class SubmittedRefund:
    """Stripe's answer: its refund (id, status), or why it refused for good (`rejected`)."""

    stripe_refund_id: str | None = None
    status: str | None = None  # pending | requires_action | succeeded | failed | canceled
    failure_reason: str | None = None
    rejected: bool = False


@dataclass
class FetchRefundStatus:
    stripe_refund_id: str


@dataclass
class StripeRefundState:
    status: str
    failure_reason: str | None = None


@dataclass
class SettleRefund:
    refund_id: int
    outcome: str  # succeeded | failed
    failure_reason: str | None = None


@dataclass
class SettledRefund:
    changed: bool  # False: it was final already (the same outcome applied twice)
    status: str = ""  # the refund's status afterwards, whoever settled it


@dataclass
class SendRefundEmail:
    refund_id: int
    # The refund had been reported done: the email says Stripe failed it afterwards.
    after_success: bool = False


@dataclass
class ApplyLateRefundFailure:
    """Stripe failed a refund after it succeeded: put back what its success changed."""

    refund_id: int
    stripe_refund_id: str | None = None
    failure_reason: str | None = None


@dataclass
class AppliedLateRefundFailure:
    changed: bool  # False: it was not succeeded (applied before, or never succeeded)
    status: str = ""
