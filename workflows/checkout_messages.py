"""Dataclasses crossing CheckoutWorkflow's boundary: its input and result, its updates and
query, and its activities' inputs and results.

Names are part of running histories: never rename a class or field; add fields with defaults.
No field holds personal data (no emails, names, card data): ids, amounts and Stripe ids only.
"""

# Annotations stay evaluated (no `from __future__ import annotations`): Temporal's data converter
# calls typing.get_type_hints on every dataclass it decodes, and string ones cost it ~3x more.
from dataclasses import dataclass, field
from datetime import datetime


# --- workflow input, result, messages -------------------------------------------------------
@dataclass
class CheckoutInput:
    order_id: int
    user_id: int
    session_ttl_seconds: int = 3600
    payment_window_seconds: int = 3600
    expiry_grace_seconds: int = 300
    email_retry_max_interval_seconds: int = 60
    # Passed on to the RefundWorkflow of a payment the order could not take.
    refund_poll_interval_seconds: int = 300
    # How long a delayed payment (completed unpaid) is waited for past the payment window
    # before the order is cancelled (money landing later is refunded automatically).
    async_payment_max_wait_seconds: int = 14 * 24 * 3600


@dataclass
class CheckoutResult:
    outcome: str  # paid | cancelled | refunded | not_pending (a run for an order already settled)
    payment_id: int | None = None


@dataclass
class CheckoutSessionRequest:
    """Update `checkout_session`: the open session of this order (made when there is none)."""


@dataclass
class CheckoutSessionResult:
    session_id: str = ""
    checkout_url: str = ""
    expires_at: datetime | None = None
    # Set instead of a session: order_not_pending | order_paid | payment_provider_error |
    # payment_provider_unavailable | payment_processing (a delayed payment is in flight)
    error: str | None = None
    order_status: str | None = None


@dataclass
class CancelCheckout:
    """Update `cancel`: the buyer gives up on this order."""

    reason: str = "user"


@dataclass
class CancelCheckoutResult:
    # cancelled | paid (Stripe had taken the payment) | not_pending | payment_processing (a
    # delayed payment is in flight: the order waits for its outcome)
    outcome: str
    order_status: str = ""


@dataclass
class CheckoutStatus:
    """Query `status`: what an operator reads in the Temporal UI."""

    state: str
    order_id: int
    user_id: int
    deadline: datetime | None = None
    sessions_made: int = 0
    # Sessions an earlier run of the order made, still open by our rows when this run started.
    sessions_adopted: int = 0
    current_session_id: str | None = None
    current_session_expires_at: datetime | None = None
    events_seen: int = 0
    payment_id: int | None = None
    # Payments that arrived when the order could no longer take them: to be refunded.
    unapplied_payment_ids: list[int] = field(default_factory=list)
    refund_ids: list[int] = field(default_factory=list)
    last_decline: str | None = None
    order_status: str | None = None
    # Events an activity refused for good ("evt_...: PaymentOfAnotherOrder"): for an operator.
    problems: list[str] = field(default_factory=list)
    # The session whose delayed payment is in flight (completed unpaid), and since when.
    processing_session_id: str | None = None
    processing_since: datetime | None = None


# --- activity inputs and results -------------------------------------------------------------
@dataclass
class LoadCheckoutOrder:
    order_id: int


@dataclass
class OpenCheckoutSession:
    """A session of the order our rows still hold open (made by this run or an earlier one)."""

    session_id: str
    url: str
    expires_at: datetime


@dataclass
class CheckoutOrder:
    status: str  # pending | paid | cancelled | refunded
    # Oldest first. A run that replaces a lost one adopts them, so it hands out the page already
    # open (or closes it at Stripe before making a new one) instead of opening a second one.
    # Histories recorded before it existed load none.
    open_sessions: list[OpenCheckoutSession] = field(default_factory=list)
    # The session whose delayed payment an earlier run saw in flight, and since when: a run that
    # replaces a lost one waits for that money as the lost run did. None in histories recorded
    # before they existed.
    processing_session_id: str | None = None
    processing_since: datetime | None = None


@dataclass
class CreateCheckoutSession:
    order_id: int
    attempt: int  # the run's session counter: part of the Stripe idempotency key
    expires_at: datetime
    # The run's id, also part of the key: a run that replaces a lost one (terminated by an
    # operator) must not reuse its keys, which Stripe ties to the old run's parameters.
    run_id: str = ""


@dataclass
class CreatedCheckoutSession:
    session_id: str
    url: str
    expires_at: datetime


@dataclass
class ExpireCheckoutSessions:
    order_id: int


@dataclass
class CheckoutSessionState:
    session_id: str
    status: str  # open | complete | expired
    payment_status: str
    amount_total: int
    currency: str
    payment_intent: str | None = None


@dataclass
class ExpiredCheckoutSessions:
    sessions: list[CheckoutSessionState] = field(default_factory=list)


@dataclass
class RecordPayment:
    order_id: int
    session_id: str
    payment_intent: str | None
    amount_total: int  # minor units, as Stripe charged
    currency: str


@dataclass
class RecordedPayment:
    payment_id: int
    applied: bool  # it paid the order (purchases made); false: to be refunded
    order_status: str


@dataclass
class CancelOrder:
    order_id: int
    reason: str  # user | expired


@dataclass
class CancelledOrder:
    cancelled: bool  # false: it was no longer pending
    order_status: str


@dataclass
class SendReceipt:
    payment_id: int


@dataclass
class SetPaymentProcessing:
    """A session completed with a delayed payment in flight (`processing`), or that payment
    failed (not processing any more)."""

    order_id: int
    session_id: str
    processing: bool


@dataclass
class Session:
    """A Stripe Checkout Session of the order, as the run knows it (run state, never sent: kept
    here, passed through, so the sandbox does not build the dataclass again for every run)."""

    id: str
    url: str
    expires_at: datetime
    open: bool = True
