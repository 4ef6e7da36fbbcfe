"""The interactive docs at /docs work without internet: Swagger UI's script and stylesheet are
served by the API itself, from the files the swagger-ui-py package ships (Apache-2.0)."""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from quart import Blueprint, Quart, Response, send_from_directory
from quart_schema import hide

ASSETS = Path(swagger_ui.__file__).parent / "static"
FILES = {"swagger-ui-bundle.js", "swagger-ui.css"}
PREFIX = "/docs/assets"

bp = Blueprint("docs_assets", __name__)


@bp.get(f"{PREFIX}/<name>")
@hide
async def asset(name: str) -> Response:
    if name not in FILES:
        return Response("Not found", status=404)
    response = await send_from_directory(ASSETS, name)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def serve_swagger_assets(app: Quart) -> None:
    """Point quart-schema's /docs page at our copies instead of a CDN."""
    app.config["QUART_SCHEMA_SWAGGER_JS_URL"] = f"{PREFIX}/swagger-ui-bundle.js"
    app.config["QUART_SCHEMA_SWAGGER_CSS_URL"] = f"{PREFIX}/swagger-ui.css"
    app.register_blueprint(bp)
