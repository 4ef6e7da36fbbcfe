"""`get_order_for_user`, the one way the checkout and cancel routes load an order for their
caller: someone else's order, a missing one and an impossible id all raise OrderNotFound
(their routes answer 404 `order_not_found`; the refund route's `lock_refundable_order` too)."""

from __future__ import annotations

import pytest

from domain.db import transaction
from domain.models import OrderStatus
from domain.orders.service import get_order_for_user
from domain.payments.errors import OrderNotFound
from tests.api.commerce_support import buyer, order_of, priced_movie


async def test_only_the_owner_finds_the_order(client, stack, moderator) -> None:
    owner, other = await buyer(client, stack), await buyer(client, stack)
    order = await order_of(client, owner, (await priced_movie(client, moderator, "2.50"))["uuid"])
    async with transaction(stack.sessions) as session:
        found = await get_order_for_user(session, order["id"], owner.user_id, for_update=True)
        assert (found.id, found.status, str(found.total_amount)) == (
            order["id"],
            OrderStatus.PENDING,
            "2.50",
        )
        for order_id, user_id in (
            (order["id"], other.user_id),
            (order["id"] + 10_000, owner.user_id),
            (0, owner.user_id),
            (2**63, owner.user_id),
        ):
            with pytest.raises(OrderNotFound):
                await get_order_for_user(session, order_id, user_id)
