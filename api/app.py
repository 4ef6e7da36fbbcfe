"""The Quart app factory."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from quart import Quart, Request
from quart_schema import HttpSecurityScheme, Info, QuartSchema
from temporalio.client import Client
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map

from api import (
    accounts,
    cart,
    checkout,
    health,
    movies,
    orders,
    password_reset,
    payments,
    profiles,
    purchases,
    refunds,
    sessions,
)
from api.admin import BLUEPRINTS as ADMIN_BLUEPRINTS
from api.caching import register_catalog_caching
from api.catalog_names import BLUEPRINTS as CATALOG_NAME_BLUEPRINTS
from api.docs import serve_swagger_assets
from api.errors import MalformedJSON, NotJSON, register_error_handlers
from api.hardening import register_hardening
from api.order_watch import OrderWatcher
from api.services import EXTENSION_KEY, Services
from api.temporal import Temporal
from domain.config import Settings
from domain.db import autocommit_engine, create_engine, create_session_factory
from domain.redis_store import create_redis
from domain.security import OneTimeTokens, PasswordHasher, TokenService
from domain.stripe import StripeGateway

log = logging.getLogger("cinema.api")


class JSONRequest(Request):
    """A request whose bad JSON (syntax or encoding) is a clear 400, never a 500, and whose
    body limit is its route's own when the route has one (an upload), else MAX_CONTENT_LENGTH.

    The limit must be known when the request is made: the body is read (and refused past the
    limit) as it arrives, before any handler runs. So the endpoint is found here, from the
    path, for the few routes listed in `body_limits`; create_app sets both class attributes
    on a subclass of its own."""

    body_limits: ClassVar[Mapping[str, int]] = {}
    url_map: ClassVar[Map | None] = None
    _prefix_cache: ClassVar[tuple[str, ...] | None] = None

    def __init__(
        self,
        method: str,
        scheme: str,
        path: str,
        *args: Any,
        max_content_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        route_limit = self._route_body_limit(method, path)
        if route_limit is not None:
            max_content_length = route_limit
        super().__init__(
            method, scheme, path, *args, max_content_length=max_content_length, **kwargs
        )
        if route_limit is not None:
            # The form parser reads this property (else it falls back to the app's config).
            self.max_content_length = route_limit

    @classmethod
    def _route_body_limit(cls, method: str, path: str) -> int | None:
        if not cls.body_limits or cls.url_map is None or method not in ("POST", "PUT", "PATCH"):
            return None
        if not path.startswith(cls._prefixes()):  # most requests: no routing needed
            return None
        try:
            endpoint, _ = cls.url_map.bind("localhost").match(path, method)
        except HTTPException:  # no such route, wrong method, a redirect: the default applies
            return None
        return cls.body_limits.get(str(endpoint))

    @classmethod
    def _prefixes(cls) -> tuple[str, ...]:
        """The fixed start of each limited route's path (up to its first variable part)."""
        if cls._prefix_cache is None:
            assert cls.url_map is not None
            cls._prefix_cache = tuple(
                rule.rule.split("<", 1)[0]
                for rule in cls.url_map.iter_rules()
                if rule.endpoint in cls.body_limits
            )
        return cls._prefix_cache

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if not (force or self.is_json):
            raise NotJSON()
        raw = await self.get_data(cache=cache, as_text=False)
        try:
            data = json.loads(raw)
            # Lone surrogates (`"\ud800"`) are valid JSON but not text: refuse them here, once,
            # rather than let one reach a hash function or the database.
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except (ValueError, RecursionError):  # ValueError covers UnicodeDecode/EncodeError
            if silent:
                return None
            raise MalformedJSON() from None
        return data


def create_app(settings: Settings, *, temporal_client: Client | None = None) -> Quart:
    app = Quart("cinema")

    class AppRequest(JSONRequest):
        body_limits = profiles.upload_body_limits(settings)
        url_map = app.url_map

    app.request_class = AppRequest
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        BODY_TIMEOUT=30,
        QUART_SCHEMA_CONVERT_CASING=False,
    )
    app.url_map.strict_slashes = True
    QuartSchema(
        app,
        info=Info(
            title="Online Cinema API",
            version="0.1.0",
            description="Accounts, catalog and commerce of the Online Cinema. Errors share one "
            'shape: `{"error": "<code>", "detail": "<message>"}`.',
        ),
        security_schemes={"bearer": HttpSecurityScheme(scheme="bearer", bearer_format="JWT")},
        scalar_ui_path=None,
        redoc_ui_path=None,  # its script comes only from a CDN; /docs is served offline
        openapi_path="/openapi.json" if settings.api_docs_enabled else None,
        swagger_ui_path="/docs" if settings.api_docs_enabled else None,
    )
    if settings.api_docs_enabled:
        serve_swagger_assets(app)
    register_hardening(app)
    register_error_handlers(app)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(sessions.bp)
    app.register_blueprint(password_reset.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(movies.bp)
    app.register_blueprint(refunds.bp)
    app.register_blueprint(checkout.bp)
    app.register_blueprint(payments.bp)
    for blueprint in CATALOG_NAME_BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_catalog_caching(app)
    for blueprint in (cart.bp, orders.bp, purchases.bp, profiles.bp, profiles.media_bp):
        app.register_blueprint(blueprint)
    for blueprint in ADMIN_BLUEPRINTS:
        app.register_blueprint(blueprint)

    @app.before_serving
    async def start() -> None:
        engine = create_engine(settings)
        app.extensions[EXTENSION_KEY] = Services(
            settings=settings,
            engine=engine,
            autocommit=autocommit_engine(engine),
            sessions=create_session_factory(engine),
            redis=create_redis(settings.redis_url),
            temporal=Temporal(settings, temporal_client),
            hasher=PasswordHasher(settings),
            tokens=TokenService(settings),
            one_time_tokens=OneTimeTokens(settings),
            stripe=StripeGateway(settings),
            order_watch=OrderWatcher(settings.database_url),
        )

    @app.after_serving
    async def stop() -> None:
        svc: Services | None = app.extensions.pop(EXTENSION_KEY, None)
        if svc is not None:
            await svc.order_watch.close()
            await svc.stripe.close()
            svc.hasher.close()
            await svc.redis.aclose()
            await svc.engine.dispose()

    return app
