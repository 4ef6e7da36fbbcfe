"""Domain errors: each carries an HTTP status and a stable error code for the JSON error body."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    default_detail: ClassVar[str] = "The request could not be processed."
    # True when the writes made before the error must still be committed (e.g. revocations).
    commit_before_raise: ClassVar[bool] = False

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.default_detail
        self.extra = extra
        super().__init__(self.detail)


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"
    default_detail = "Authentication credentials were not provided."


class InvalidToken(DomainError):
    status = 401
    code = "invalid_token"
    default_detail = "The token is invalid."


class TokenExpired(DomainError):
    status = 401
    code = "token_expired"
    default_detail = "The token has expired."


class TokenRevoked(DomainError):
    status = 401
    code = "token_revoked"
    default_detail = "The token has been revoked."


class RefreshTokenReused(DomainError):
    status = 401
    code = "refresh_token_reused"
    commit_before_raise = True
    default_detail = "This refresh token was already used; all sessions of this login were revoked."


class InvalidCredentials(DomainError):
    status = 401
    code = "invalid_credentials"
    default_detail = "Invalid email or password."


class AccountNotActivated(DomainError):
    status = 403
    code = "account_not_activated"
    default_detail = "Your account is not activated."


class InactiveUser(DomainError):
    status = 401
    code = "inactive_user"
    default_detail = "This account is not active."


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"
    default_detail = "You do not have permission to do this."


class InvalidActivationToken(DomainError):
    status = 400
    code = "invalid_activation_token"
    default_detail = "The activation link is invalid or has expired."


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    default_detail = "Too many attempts. Try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"
    default_detail = "A service this request needs is unavailable. Try again shortly."


# --- catalog ----------------------------------------------------------------------------------


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_detail = "Not found."


class MovieNotFound(NotFound):
    code = "movie_not_found"
    default_detail = "Movie with the given UUID was not found."


class UserNotFound(NotFound):
    code = "user_not_found"
    default_detail = "User not found."


class NameNotFound(NotFound):
    code = "name_not_found"
    default_detail = "Nothing with the given id was found."


class InvalidFields(DomainError):
    """A combination of fields that is invalid as a whole (e.g. a PATCH merged with the stored
    row), reported in the same shape as request validation."""

    status = 422
    code = "validation_error"

    @classmethod
    def from_validation(cls, error: Any, where: str) -> InvalidFields:
        fields = [
            {
                "loc": [where, *item["loc"]],
                "msg": str(item["msg"]).removeprefix("Value error, "),
                "type": item["type"],
            }
            for item in error.errors(include_input=False, include_url=False)
        ]
        summary = "; ".join(f"{'.'.join(map(str, f['loc'][1:]))}: {f['msg']}" for f in fields)
        return cls(summary or "Invalid request.", fields=fields)


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_detail = "The request conflicts with the current state."


class NameTaken(Conflict):
    """A genre, star, director or certification of that name (ignoring case) exists."""

    code = "name_taken"


class MovieExists(Conflict):
    """A movie with that name (ignoring case) and year exists."""

    code = "movie_exists"


class NameInUse(Conflict):
    """A genre, star, director or certification that movies still use cannot be deleted."""

    code = "name_in_use"


class MovieNotArchived(Conflict):
    code = "movie_not_archived"
    default_detail = "The movie is not archived."


# --- cart and orders --------------------------------------------------------------------------


class MovieAlreadyPurchased(Conflict):
    code = "movie_already_purchased"
    default_detail = "You already own this movie."


class MovieInPendingOrder(Conflict):
    code = "movie_in_pending_order"
    default_detail = "This movie is in your pending order: pay for it or cancel the order."


class MovieAlreadyInCart(Conflict):
    code = "movie_already_in_cart"
    default_detail = "This movie is already in your cart."


class MovieArchived(Conflict):
    code = "movie_archived"
    default_detail = "Some movies in your cart are no longer sold; remove them first."


class MovieNotInCart(NotFound):
    code = "movie_not_in_cart"
    default_detail = "This movie is not in your cart."


class CartEmpty(Conflict):
    code = "cart_empty"
    default_detail = "Your cart is empty."


class PendingOrderExists(Conflict):
    """Carries `order_id`: the pending order to pay or cancel first."""

    code = "pending_order_exists"
    default_detail = "You already have a pending order: pay for it or cancel it first."


# --- commerce: checkout and payments ---------------------------------------------------------


class OrderNotFound(NotFound):
    code = "order_not_found"
    default_detail = "Order with the given id was not found."


# --- refunds ----------------------------------------------------------------------------------


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    default_detail = "Payment with the given ID was not found."


class OrderNotPaid(Conflict):
    code = "order_not_paid"
    default_detail = "The order is not paid."


class OrderNotRefundable(Conflict):
    """Carries the order's `order_status` (e.g. cancelled)."""

    code = "order_not_refundable"
    default_detail = "This order cannot be refunded."


class RefundWindowClosed(Conflict):
    code = "refund_window_closed"
    default_detail = "The time to ask for a refund of this order has passed."


class AlreadyRefunded(Conflict):
    code = "already_refunded"
    default_detail = "Everything this payment paid for has been refunded already."


class RefundInProgress(Conflict):
    """Carries the `refund_id` of the refund in flight."""

    code = "refund_in_progress"
    default_detail = "A refund of this payment is already in progress."


class RefundExceedsPayment(Conflict):
    """The database refused it: the refunds would exceed what was paid."""

    code = "refund_exceeds_payment"
    default_detail = "The refund would exceed the amount paid."


class NothingToRefund(Conflict):
    code = "nothing_to_refund"
    default_detail = "The lines to refund add up to nothing."


class UnknownOrderItems(DomainError):
    status = 422
    code = "unknown_order_items"
    default_detail = "Some lines to refund are not part of this payment."


class NoPendingOrder(NotFound):
    code = "no_pending_order"
    default_detail = "You have no pending order."


class CheckoutSessionNotFound(NotFound):
    code = "checkout_session_not_found"
    default_detail = "No checkout session with the given id."


class OrderNotPending(Conflict):
    """Carries the order's `order_status` (paid, cancelled, refunded)."""

    code = "order_not_pending"
    default_detail = "The order is not pending."


class OrderPaid(Conflict):
    """A cancel lost the race: Stripe had already taken the payment."""

    code = "order_paid"
    default_detail = "The order was paid before it could be cancelled; request a refund instead."


class PaymentProcessing(Conflict):
    """Carries `order_id`: a delayed payment (e.g. a bank debit) of this order is in flight."""

    code = "payment_processing"
    default_detail = (
        "A payment for this order is being processed; the order stays pending until it "
        "succeeds or fails."
    )


class InvalidWebhookSignature(DomainError):
    status = 400
    code = "invalid_signature"
    default_detail = "Missing or invalid Stripe signature."


class PaymentProviderError(DomainError):
    status = 502
    code = "payment_provider_error"
    default_detail = "The payment provider refused to open a checkout for this order."


class PaymentProviderUnavailable(ServiceUnavailable):
    code = "payment_provider_unavailable"
    default_detail = "The payment provider is unavailable; try again shortly."


# --- password reset ---------------------------------------------------------------------------


class InvalidResetToken(DomainError):
    status = 400
    code = "invalid_reset_token"
    default_detail = "The reset link is invalid, used or expired. Ask for a new one."


class PasswordUnchanged(Conflict):
    code = "password_unchanged"
    default_detail = "The new password must differ from the current one."


class WrongPassword(DomainError):
    status = 400
    code = "wrong_password"
    default_detail = "The current password is not correct."


# --- profiles ---------------------------------------------------------------------------------


class ProfileNotFound(NotFound):
    code = "profile_not_found"
    default_detail = "Profile with the given user ID was not found."


class ProfileExists(Conflict):
    code = "profile_exists"
    default_detail = "Profile already exists."


class InvalidAvatar(DomainError):
    status = 422
    code = "invalid_avatar"
    default_detail = "The avatar must be a JPEG, PNG or WebP image."


class AvatarTooLarge(DomainError):
    status = 413
    code = "avatar_too_large"
    default_detail = "The avatar is too large."
