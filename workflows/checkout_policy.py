"""What CheckoutWorkflow calls and how patiently: its activities' names (never rename: running
histories refer to them), their timeouts and retry policies, the Stripe event types it acts on,
and the timing rules of Checkout Sessions. Plain constants: safe to import from workflow code."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Activity names (never rename: running histories refer to them).
LOAD_ORDER = "load_checkout_order"
CREATE_SESSION = "create_checkout_session"
EXPIRE_SESSIONS = "expire_checkout_sessions"
RECORD_PAYMENT = "record_payment"
CANCEL_ORDER = "cancel_order"
SEND_RECEIPT = "send_receipt"
SET_PAYMENT_PROCESSING = "set_payment_processing"
# RefundActivities (activities/refunds.py): opens the refund of a payment no order took.
OPEN_UNAPPLIED_REFUND = "open_unapplied_payment_refund"

# CheckoutWorkflow's patch ids (never rename: recorded histories refer to them).
# Every step but the receipt runs as a local activity.
LOCAL_ACTIVITIES = "local-activities"
# A run started before it made its first session before loading the order; from it on, the
# order (and the sessions an earlier run left open) is loaded first.
LOAD_BEFORE_SESSION = "load-order-before-first-session"
# A run started before it kept the timer it set when it began waiting, so a session made during
# that wait was not watched; from it on, the wait is re-armed.
REARM_TIMER = "rearm-timer-when-wake-changes"
# A session completed unpaid (a delayed payment method) puts the run into waiting for the money.
ASYNC_PAYMENT_IN_FLIGHT = "async-payment-in-flight"
# A run that replaces a lost one takes over the delayed payment that run saw in flight (it waits
# for it and refuses a cancel), and a cancel loads the order first (update-with-start runs the
# cancel before `run`).
ADOPT_PAYMENT_IN_FLIGHT = "adopt-payment-in-flight"
# The receipt is first tried as a local activity, inside the workflow task that recorded the
# payment; only when that fails (SMTP down) does it become a regular activity, retried until it
# goes through and visible in the UI as a pending activity with its last error. A paid checkout
# is then two workflow tasks and no activity task instead of three and one.
RECEIPT_LOCAL_FIRST = "receipt-local-first"
# A run started from a bundle's cut on takes every patch in it at once and records one marker
# (and one TemporalChangeVersion update) instead of one per patch: a checkout records each patch
# it meets, and each costs the server a history event and a visibility write. A patch added later
# gets its own marker until the next bundle is cut. A run remembers the bundle it took.
PATCHES_TO_2026_11_27 = "checkout-patches-to-2026-11-27"
PATCHES_TO_2026_11_28 = "checkout-patches-to-2026-11-28"
BUNDLES = {
    PATCHES_TO_2026_11_27: frozenset(
        [
            LOCAL_ACTIVITIES,
            LOAD_BEFORE_SESSION,
            REARM_TIMER,
            ASYNC_PAYMENT_IN_FLIGHT,
            ADOPT_PAYMENT_IN_FLIGHT,
        ]
    ),
}
BUNDLES[PATCHES_TO_2026_11_28] = BUNDLES[PATCHES_TO_2026_11_27] | {RECEIPT_LOCAL_FIRST}
# Newest first: a new run takes the first; an older run finds the one it recorded.
BUNDLE_ORDER = (PATCHES_TO_2026_11_28, PATCHES_TO_2026_11_27)
BUNDLED_PATCHES = frozenset().union(*BUNDLES.values())

STRIPE_MIN_SESSION = timedelta(minutes=30)  # Stripe refuses an `expires_at` sooner than this
# Stripe measures from its clock when the activity runs, a little after the workflow decided.
SESSION_MARGIN = timedelta(minutes=2)
# A session this close to its expiry (or a deadline this close) is not worth handing out.
REUSE_MARGIN = timedelta(minutes=1)

COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
ASYNC_FAILED = "checkout.session.async_payment_failed"
EXPIRED = "checkout.session.expired"
PAYMENT_FAILED = "payment_intent.payment_failed"

DB_TIMEOUT = timedelta(seconds=30)
STRIPE_TIMEOUT = timedelta(seconds=60)
EMAIL_TIMEOUT = timedelta(seconds=60)
# The receipt's local attempt: one short try, so an SMTP outage (or a server that accepts the
# connection and never answers) soon hands it to a regular activity and frees the run for the
# updates and signals waiting behind its workflow task.
LOCAL_RECEIPT_TIMEOUT = timedelta(seconds=5)
LOCAL_RECEIPT_RETRY = RetryPolicy(maximum_attempts=1)
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["OrderNotFound", "PaymentOfAnotherOrder"],
)
STRIPE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["OrderNotFound", "StripeRejected"],
)
# A person waits for the checkout URL: a few quick tries, then a clear answer.
CREATE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=4),
    maximum_attempts=5,
    non_retryable_error_types=["OrderNotFound", "OrderNotPending", "StripeRejected"],
)
