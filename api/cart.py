"""Cart: what the caller means to buy, at today's prices. Every route needs a logged-in user."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import security_scheme, tag_blueprint, validate_request, validate_response

from api.auth import current_user, require_user
from api.schemas import BEARER, Strict, error_responses
from api.services import services
from domain.cart import service as cart
from domain.db import transaction

bp = Blueprint("cart", __name__, url_prefix="/cart")
tag_blueprint(bp, ["cart"])


class CartItemOut(BaseModel):
    movie_uuid: UUID
    movie_name: str
    price: Decimal = Field(description='The movie\'s current price, a decimal string ("9.99").')
    added_at: datetime
    archived: bool = Field(
        description="The movie was withdrawn from sale after it was added: an order refuses "
        "it (`movie_archived`) and the total leaves it out; remove it from the cart."
    )


class CartOut(BaseModel):
    cart_items: list[CartItemOut] = Field(description="In the order they were added.")
    total: Decimal = Field(description="Sum of the current prices of the items for sale.")
    currency: str


class AddToCart(Strict):
    movie_uuid: UUID


@bp.get("/")
@require_user
@validate_response(CartOut, 200)
@error_responses(401, 503)
@security_scheme(BEARER)
async def get_cart() -> dict[str, Any]:
    """The caller's cart: items in the order they were added, at current prices, and the total.
    A user who never added anything has an empty cart."""
    svc = services()
    async with transaction(svc.sessions) as session:
        return await cart.get_cart(session, current_user().id, svc.settings.currency)


@bp.post("/add/")
@require_user
@validate_request(AddToCart)
@validate_response(CartItemOut, 201)
@error_responses(400, 401, 404, 409, 422, 503)
@security_scheme(BEARER)
async def add(data: AddToCart) -> tuple[dict[str, Any], int]:
    """Put a movie in the cart; 201 with the new item.

    Refused: an unknown or archived movie (404 `movie_not_found`), a movie the caller owns
    (409 `movie_already_purchased`), one in the caller's pending order (409
    `movie_in_pending_order`), one already in the cart (409 `movie_already_in_cart`, also when
    two adds race).
    """
    async with transaction(services().sessions) as session:
        return await cart.add_movie(session, current_user().id, data.movie_uuid), 201


@bp.delete("/items/<uuid:movie_uuid>/")
@require_user
@validate_response(CartOut, 200)
@error_responses(401, 404, 503)
@security_scheme(BEARER)
async def remove(movie_uuid: UUID) -> dict[str, Any]:
    """Take a movie out of the cart (404 `movie_not_in_cart` if it is not there); answers with
    the cart as it is now."""
    svc = services()
    async with transaction(svc.sessions) as session:
        return await cart.remove_movie(
            session, current_user().id, movie_uuid, svc.settings.currency
        )


@bp.delete("/items/")
@require_user
@validate_response(CartOut, 200)
@error_responses(401, 503)
@security_scheme(BEARER)
async def clear() -> dict[str, Any]:
    """Empty the cart (also fine when it is empty already); answers with the empty cart."""
    svc = services()
    async with transaction(svc.sessions) as session:
        return await cart.clear(session, current_user().id, svc.settings.currency)
