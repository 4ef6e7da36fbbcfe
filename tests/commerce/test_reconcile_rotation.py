"""Reconciling rotates through the sessions whose delayed payment is in flight: when there are
more of them than a batch takes, each run takes the ones checked longest ago (never checked
first), instead of the same oldest ones run after run until they settle (days, for a bank
debit). Checking stamps `reconciled_at` and leaves `updated_at` (since when the money is in
flight) alone."""

from __future__ import annotations

from typing import Any

from quart.typing import TestClientProtocol
from sqlalchemy import text

from tests.commerce.support import Shop, buyer, movies, pending_order, rows
from tests.commerce.test_checkout_async import ASYNC_SUCCEEDS, _pay_delayed
from tests.commerce.test_reconcile import _reconcile
from tests.conftest import Stack
from workflows.reconcile_messages import ReconcileResult

# Only this test's sessions are this old: the batch is these alone.
AGE = "21 years"
MIN_AGE_SECONDS = 20 * 365 * 86400


async def _stamps(stack: Stack, sessions: list[str]) -> list[Any]:
    """(reconciled_at, updated_at) of each session, in the order given."""
    found = dict(
        (sid, (checked, updated))
        for sid, checked, updated in await rows(
            stack,
            "SELECT stripe_session_id, reconciled_at, updated_at FROM checkout_sessions "
            "WHERE stripe_session_id = ANY(:s)",
            s=sessions,
        )
    )
    return [found[sid] for sid in sessions]


async def test_successive_runs_check_every_session_with_a_payment_in_flight(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    in_flight = []
    for price in ("2.00", "3.00", "4.00"):
        payer = await buyer(client, stack)
        order_id = await pending_order(client, payer, await movies(client, stack, price))
        in_flight.append(await _pay_delayed(shop, payer, order_id, ASYNC_SUCCEEDS))
    async with stack.sessions() as session, session.begin():
        await session.execute(
            text(
                f"UPDATE checkout_sessions SET created_at = now() - interval '{AGE}' "
                "WHERE stripe_session_id = ANY(:s)"
            ),
            {"s": in_flight},
        )
    before = await _stamps(stack, in_flight)
    assert [checked for checked, _ in before] == [None, None, None]

    async def run() -> ReconcileResult:
        return await _reconcile(shop, None, min_age_seconds=MIN_AGE_SECONDS, batch_size=2)

    # Three in flight, two a run: the first run checks the two oldest...
    assert await run() == ReconcileResult(checked=2, still_open=2)
    first = await _stamps(stack, in_flight)
    assert first[0][0] is not None and first[1][0] is not None
    assert first[2][0] is None
    # ...the next one the never-checked newest first, then the one checked longest ago.
    assert await run() == ReconcileResult(checked=2, still_open=2)
    second = await _stamps(stack, in_flight)
    assert all(checked is not None for checked, _ in second)
    assert second[2][0] > first[1][0]
    assert second[1][0] == first[1][0]  # the one checked last time waits its turn
    assert second[0][0] > first[0][0]
    # Since when the money is in flight (the row's last change) is not moved by checking.
    assert [updated for _, updated in second] == [updated for _, updated in before]
