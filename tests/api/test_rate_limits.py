"""Per-client-address rate limits (README: 5x the per-email login limit, 4x for register and
resend), and which address counts behind TRUSTED_PROXY_HOPS proxies.

The suite shares one Redis: every test uses client addresses and emails of its own, so no
counter is shared with another test.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import pytest
from quart.typing import TestClientProtocol

from tests.conftest import Stack, app_client
from tests.support import PASSWORD, new_email


def random_address() -> str:
    return ".".join(str(secrets.randbelow(250) + 1) for _ in range(4))


@dataclass(frozen=True)
class Endpoint:
    path: str
    limit_setting: str
    window_setting: str
    per_address_factor: int
    ok_status: int

    def body(self, email: str) -> dict[str, str]:
        if self.path.endswith("resend-activation/"):
            return {"email": email}
        password = "Wr0ng$pass" if self.path.endswith("login/") else PASSWORD
        return {"email": email, "password": password}


LOGIN = Endpoint("/accounts/login/", "rate_limit_login", "rate_limit_login_window_seconds", 5, 401)
ENDPOINTS = [
    LOGIN,
    Endpoint(
        "/accounts/register/", "rate_limit_register", "rate_limit_register_window_seconds", 4, 202
    ),
    Endpoint(
        "/accounts/resend-activation/",
        "rate_limit_resend",
        "rate_limit_resend_window_seconds",
        4,
        202,
    ),
]


async def _post(
    api: TestClientProtocol,
    endpoint: Endpoint,
    peer: str,
    forwarded_for: str | None = None,
) -> Any:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    return await api.post(
        endpoint.path,
        json=endpoint.body(new_email("rl")),  # a fresh email each time: only the address counts
        headers=headers,
        scope_base={"client": (peer, 40000)},
    )


async def _spend_budget(
    api: TestClientProtocol, endpoint: Endpoint, budget: int, peer: str, forwarded_for: str
) -> None:
    for _ in range(budget):
        response = await _post(api, endpoint, peer, forwarded_for)
        assert response.status_code == endpoint.ok_status, await response.get_data(as_text=True)


async def _assert_limited(response: Any, window_seconds: int) -> None:
    assert response.status_code == 429, await response.get_data(as_text=True)
    assert (await response.get_json())["error"] == "rate_limited"
    assert 0 < int(response.headers["Retry-After"]) <= window_seconds


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.path.strip("/").split("/")[-1])
async def test_one_address_trying_many_emails_is_limited(stack: Stack, endpoint: Endpoint) -> None:
    async with app_client(stack, **{endpoint.limit_setting: 1}) as api:
        budget = endpoint.per_address_factor  # per email: 1, so every email stays under it
        peer = random_address()
        for _ in range(budget):
            response = await _post(api, endpoint, peer)
            assert response.status_code == endpoint.ok_status
        window = getattr(stack.settings, endpoint.window_setting)
        await _assert_limited(await _post(api, endpoint, peer), window)
        # Another client is served: the counter is this address's, not everyone's.
        assert (await _post(api, endpoint, random_address())).status_code == endpoint.ok_status


async def test_behind_a_trusted_proxy_each_client_has_its_own_budget(stack: Stack) -> None:
    """TRUSTED_PROXY_HOPS=1: the address our proxy appended to X-Forwarded-For is the client;
    whatever the client itself put before it is not believed."""
    window = stack.settings.rate_limit_login_window_seconds
    async with app_client(stack, rate_limit_login=1, trusted_proxy_hops=1) as api:
        proxy, client, neighbour = random_address(), random_address(), random_address()
        budget = LOGIN.per_address_factor
        await _spend_budget(api, LOGIN, budget, proxy, forwarded_for=client)

        await _assert_limited(await _post(api, LOGIN, proxy, client), window)
        # A forged entry in front of the proxy's does not make a new client.
        forged = f"{random_address()}, {client}"
        await _assert_limited(await _post(api, LOGIN, proxy, forged), window)
        # Another client behind the same proxy is counted on its own.
        response = await _post(api, LOGIN, proxy, neighbour)
        assert response.status_code == LOGIN.ok_status


async def test_without_trusted_proxies_a_forged_forwarded_for_gives_no_fresh_budget(
    stack: Stack,
) -> None:
    """TRUSTED_PROXY_HOPS=0 (the default): X-Forwarded-For is the client's word, so the peer
    address counts, whatever the header says."""
    window = stack.settings.rate_limit_login_window_seconds
    async with app_client(stack, rate_limit_login=1, trusted_proxy_hops=0) as api:
        peer = random_address()
        for _ in range(LOGIN.per_address_factor):
            response = await _post(api, LOGIN, peer, forwarded_for=random_address())
            assert response.status_code == LOGIN.ok_status
        await _assert_limited(await _post(api, LOGIN, peer, random_address()), window)


async def _login_as(api: TestClientProtocol, email: str, peer: str) -> Any:
    return await api.post(
        "/accounts/login/",
        json={"email": email, "password": "Wr0ng$pass"},
        scope_base={"client": (peer, 40000)},
    )


async def test_a_strangers_wrong_passwords_do_not_lock_the_owner_out(stack: Stack) -> None:
    """Login counts one email tightly per client (the limit) and loosely over all clients
    (README: 5x the limit), so a stranger who spends one client's budget on an account leaves
    its owner, on another client, still able to try."""
    window = stack.settings.rate_limit_login_window_seconds
    async with app_client(stack, rate_limit_login=2) as api:
        email, stranger, owner = new_email("victim"), random_address(), random_address()
        for _ in range(2):
            assert (await _login_as(api, email, stranger)).status_code == 401
        await _assert_limited(await _login_as(api, email, stranger), window)
        assert (await _login_as(api, email, owner)).status_code == 401


async def test_one_email_tried_from_many_clients_is_limited(stack: Stack) -> None:
    window = stack.settings.rate_limit_login_window_seconds
    async with app_client(stack, rate_limit_login=2) as api:
        email = new_email("target")
        for _ in range(2 * 5):  # one attempt per client: each stays under its own count
            assert (await _login_as(api, email, random_address())).status_code == 401
        await _assert_limited(await _login_as(api, email, random_address()), window)
