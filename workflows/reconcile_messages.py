"""The checkout reconciliation's inputs and result (dataclasses; field names are the contract)."""

# Annotations stay evaluated (no `from __future__ import annotations`): Temporal's data converter
# calls typing.get_type_hints on every dataclass it decodes, and string ones cost it ~3x more.
from dataclasses import dataclass, field


@dataclass
class ReconcileInput:
    # Only sessions older than this are looked at: a fresh payment's webhook is still on its way.
    min_age_seconds: int = 600
    # Sessions looked at per run (one bounded batch; a backlog goes over the next runs).
    batch_size: int = 100
    # Only this order's sessions (an operator's one-off run); the schedule leaves it unset.
    order_id: int | None = None


@dataclass
class StaleCheckoutSession:
    session_id: str  # cs_...
    order_id: int


@dataclass
class StaleCheckoutSessions:
    sessions: list[StaleCheckoutSession] = field(default_factory=list)


@dataclass
class ReconcileOutcome:
    # paid: handed on as completed | expired: handed on as expired | open: nothing to do yet
    outcome: str
    # (Recorded histories also carry `handed_on`, no longer sent: the data converter ignores a
    # field a dataclass does not have, so they still decode.)


@dataclass
class ReconcileResult:
    checked: int = 0
    recorded_paid: int = 0  # paid sessions handed to their order's checkout run
    cancelled_expired: int = 0  # expired sessions handed to their run (it cancels or reopens)
    still_open: int = 0
    failed: int = 0  # sessions Stripe would not tell us about (see the run's history)
