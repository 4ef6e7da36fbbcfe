"""A reset request takes as long for an unknown email as for a known one (no enumeration by
timing). Equal status and body are checked in test_password_reset; this compares latencies."""

from __future__ import annotations

import secrets
import time
from statistics import median

import pytest

from tests.api.reset_support import request_reset
from tests.conftest import Stack, app_client
from tests.support import new_email, register_and_activate

ROUNDS = 7
FLOOR_SECONDS = 0.25


@pytest.mark.usefixtures("worker")
async def test_unknown_email_answers_as_slowly_as_a_known_one(stack: Stack) -> None:
    async with app_client(
        stack, anti_enumeration_floor_seconds=FLOOR_SECONDS, rate_limit_reset=1000
    ) as api:
        email = new_email("timed")
        await register_and_activate(api, stack.mail, email)
        own_address = {"client": (f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.7", 1)}

        async def request_seconds(address: str) -> float:
            started = time.perf_counter()
            response = await request_reset(api, address, scope_base=own_address)
            elapsed = time.perf_counter() - started
            assert response.status_code == 202
            return elapsed

        await request_seconds(email)  # warm-up: connections, the run's start
        await request_seconds(new_email())
        known: list[float] = []
        unknown: list[float] = []
        for i in range(ROUNDS):
            # Interleaved, in alternating order: load on the machine hits both alike.
            if i % 2:
                known.append(await request_seconds(email))
                unknown.append(await request_seconds(new_email()))
            else:
                unknown.append(await request_seconds(new_email()))
                known.append(await request_seconds(email))

    k, u = median(known), median(unknown)
    timings = f"known {k * 1000:.0f} ms, unknown {u * 1000:.0f} ms"
    assert u >= FLOOR_SECONDS, f"an unknown email answers before the floor: {timings}"
    assert 0.8 <= u / k <= 1 / 0.8, f"response time tells the two apart: {timings}"
