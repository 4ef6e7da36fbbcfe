"""Cart and order-placing errors.
Each carries an HTTP status and a stable error code (the base classes: domain/errors.py)."""

from __future__ import annotations

from domain.errors import Conflict, NotFound


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
