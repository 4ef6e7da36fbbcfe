"""Partial refunds (a subset of lines, as admins will ask for): each line is refunded at most
once, the order is refunded only when everything is, and each settle acts once. Driven through
the domain service, as an admin route would; Stripe is not asked here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain.db import transaction
from domain.models import RefundReason
from domain.refunds import service as refunds
from domain.refunds.errors import AlreadyRefunded, RefundInProgress, UnknownOrderItems
from tests.conftest import Stack
from tests.refunds.fixtures import Buyer, RefundEnv, buyer, moderator, refund_env
from tests.refunds.support import new_movies, paid_order, snapshot

__all__ = ["buyer", "moderator", "refund_env"]  # fixtures used by name


async def test_lines_are_refunded_once_and_the_order_only_when_all_are(
    stack: Stack, refund_env: RefundEnv, moderator: dict[str, str], buyer: Buyer, client: Any
) -> None:
    movies = await new_movies(client, stack, moderator, 2)
    paid = await paid_order(
        stack, refund_env.settings, refund_env.emulator, user_id=buyer.user_id, movies=movies,
        prices=[Decimal("3.00"), Decimal("5.00")],
    )  # fmt: skip
    first_line, second_line = paid.order_item_ids

    async def open_lines(lines: list[int] | None) -> int:
        async with transaction(stack.sessions) as session:
            refund = await refunds.open_refund(
                session,
                payment_id=paid.payment_id,
                reason=RefundReason.ADMIN,
                requested_by=None,
                order_item_ids=lines,
            )
            return refund.id

    async def settle(refund_id: int, succeeded: bool = True) -> bool:
        async with transaction(stack.sessions) as session:
            if succeeded:
                return await refunds.mark_succeeded(session, refund_id)
            return await refunds.mark_failed(session, refund_id, "card expired")

    with pytest.raises(UnknownOrderItems):
        await open_lines([second_line + 1000])
    first = await open_lines([first_line])
    with pytest.raises(RefundInProgress):  # one refund in flight per payment
        await open_lines([second_line])
    assert await settle(first, succeeded=False)  # failed: the line is refundable again
    assert not await settle(first)  # a final state is never changed
    assert (await snapshot(stack, paid)).refunded_amount == Decimal("0.00")

    again = await open_lines([first_line])
    assert await settle(again)
    assert not await settle(again)  # applying the same final state twice changes nothing
    after = await snapshot(stack, paid)
    assert after.order_status == "paid"  # one line of two: the order stays paid
    assert after.payment_status == "partially_refunded"
    assert after.refunded_amount == Decimal("3.00")
    assert after.owned_movies == [movies[1]]
    with pytest.raises(AlreadyRefunded):
        await open_lines([first_line])

    rest = await open_lines(None)  # "the remaining lines": only the second one
    assert await settle(rest)
    after = await snapshot(stack, paid)
    assert after.order_status == "refunded" and after.payment_status == "refunded"
    assert after.refunded_amount == Decimal("8.00") and after.owned_movies == []
    assert [r[:2] for r in after.refunds] == [
        ("failed", Decimal("3.00")),
        ("succeeded", Decimal("3.00")),
        ("succeeded", Decimal("5.00")),
    ]
    with pytest.raises(AlreadyRefunded):
        await open_lines(None)
