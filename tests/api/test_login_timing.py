"""Login takes as long for an unknown email as for a wrong password (no account enumeration by
timing). Equal bodies are checked in test_accounts_errors; this compares latencies."""

from __future__ import annotations

import secrets
import time
from statistics import median

import pytest

from domain.security import PasswordHasher
from tests.conftest import Stack, app_client
from tests.support import new_email, register_and_activate

ROUNDS = 7
# A costlier hash than the suite's default, so one hash clearly stands out from the rest of a
# request (a Redis round trip, one query) even on a loaded two-core machine.
ARGON2_TIME_COST = 5


@pytest.mark.usefixtures("worker")
async def test_unknown_email_costs_a_password_hash_like_a_wrong_password(stack: Stack) -> None:
    async with app_client(stack, argon2_time_cost=ARGON2_TIME_COST) as api:
        email = new_email()
        # Registered through this API: the stored hash has the same cost as the dummy hash.
        await register_and_activate(api, stack.mail, email)
        own_address = {"client": (f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.9", 1)}

        async def login_seconds(address: str) -> float:
            started = time.perf_counter()
            response = await api.post(
                "/accounts/login/",
                json={"email": address, "password": "Wr0ng$pass"},
                scope_base=own_address,
            )
            elapsed = time.perf_counter() - started
            assert response.status_code == 401
            return elapsed

        hasher = PasswordHasher(stack.with_overrides(argon2_time_cost=ARGON2_TIME_COST))
        try:
            reference_hash = await hasher.hash("Some0ther$pass")

            async def hash_seconds() -> float:
                started = time.perf_counter()
                await hasher.verify("Wr0ng$pass", reference_hash)
                return time.perf_counter() - started

            await login_seconds(email)  # warm-up: connections, prepared statements
            await login_seconds(new_email())
            known: list[float] = []
            unknown: list[float] = []
            one_hash: list[float] = []
            for i in range(ROUNDS):
                # Interleaved, in alternating order: load on the machine hits both alike.
                if i % 2:
                    known.append(await login_seconds(email))
                    unknown.append(await login_seconds(new_email()))
                else:
                    unknown.append(await login_seconds(new_email()))
                    known.append(await login_seconds(email))
                one_hash.append(await hash_seconds())
        finally:
            hasher.close()

    k, u, h = median(known), median(unknown), median(one_hash)
    timings = f"known {k * 1000:.0f} ms, unknown {u * 1000:.0f} ms, one hash {h * 1000:.0f} ms"
    assert u >= 0.6 * h, f"an unknown email skips the password hash: {timings}"
    assert 0.6 <= u / k <= 1 / 0.6, f"response time tells the two apart: {timings}"
