"""Purchases: the movies the caller owns."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import security_scheme, tag_blueprint, validate_querystring, validate_response

from api.auth import current_user, require_user
from api.pagination import PageLinks, PageQuery, page_links
from api.schemas import BEARER, error_responses
from api.services import services
from domain.db import transaction
from domain.orders import service as orders

bp = Blueprint("purchases", __name__, url_prefix="/purchases")
tag_blueprint(bp, ["purchases"])


class PurchaseOut(BaseModel):
    movie_uuid: UUID
    movie_name: str
    price: Decimal = Field(description='What was paid for it, a decimal string ("9.99").')
    purchased_at: datetime
    order_id: int


class PurchaseList(PageLinks):
    purchases: list[PurchaseOut]


@bp.get("/")
@require_user
@validate_querystring(PageQuery)
@validate_response(PurchaseList, 200)
@error_responses(401, 422, 503)
@security_scheme(BEARER)
async def list_purchases(query_args: PageQuery) -> dict[str, Any]:
    """The movies the caller owns, most recently bought first."""
    async with transaction(services().sessions) as session:
        page = await orders.list_purchases(
            session, current_user().id, query_args.per_page, query_args.offset
        )
    return {"purchases": page.rows, **page_links(query_args, page.total)}
