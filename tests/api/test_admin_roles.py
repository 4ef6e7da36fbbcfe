"""Every admin route, found in the app's url_map (a new one cannot escape): 401 anonymous,
403 for USER and MODERATOR, and never a 401/403 for an admin."""

from __future__ import annotations

import re
from typing import Any

from quart.typing import TestClientProtocol

ANY_ID = re.compile(r"<[^>]+>")


def admin_routes(client: TestClientProtocol) -> list[tuple[str, str]]:
    app: Any = client.app
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin"):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                routes.append((method, ANY_ID.sub("1", rule.rule)))
    return routes


async def test_every_admin_route_is_for_admins_only(
    client: TestClientProtocol,
    plain_user: dict[str, str],
    moderator: dict[str, str],
    admin: dict[str, str],
) -> None:
    routes = admin_routes(client)
    # The routes this module knows of are all there (the enumeration is not empty).
    assert ("GET", "/admin/users/") in routes and ("POST", "/admin/orders/1/refund/") in routes
    assert len(routes) >= 10, routes
    callers = [({}, 401, "not_authenticated"), (plain_user, 403, "permission_denied")]
    callers.append((moderator, 403, "permission_denied"))
    for method, path in routes:
        for headers, status, code in callers:
            response = await client.open(path, method=method, json={}, headers=headers)
            body = await response.get_json()
            assert (response.status_code, body["error"]) == (status, code), (method, path, body)
        response = await client.open(path, method=method, json={}, headers=admin)
        assert response.status_code not in (401, 403), (method, path, await response.get_json())
