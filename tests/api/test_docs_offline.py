"""/docs works without internet: the page loads Swagger UI only from the API itself."""

from __future__ import annotations

import re

from quart.typing import TestClientProtocol


async def test_docs_page_uses_only_assets_the_api_serves(client: TestClientProtocol) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    assert all(s.startswith("/") and not s.startswith("//") for s in sources), sources
    for source in sources:
        asset = await client.get(source)
        assert asset.status_code == 200, source
        body = await asset.get_data()
        assert len(body) > 10_000, source  # the real Swagger UI, not a stub
        expected = "javascript" if source.endswith(".js") else "css"
        assert expected in asset.headers["Content-Type"], source
    assert "SwaggerUIBundle" in html
    assert (await client.get("/openapi.json")).status_code == 200


async def test_only_the_two_assets_are_served(client: TestClientProtocol) -> None:
    assert (await client.get("/docs/assets/index.css")).status_code == 404
    assert (await client.get("/docs/assets/..%2Fcore.py")).status_code == 404
    assert (await client.get("/redocs")).status_code == 404
