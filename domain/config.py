"""Settings: one object built from environment variables (and an optional `.env`).

Built once and passed explicitly.

Nothing reads the environment at import time: `Settings()` is called once by each entry point
(`api.asgi`, `worker.py`, `cli.py`, `migrations/env.py`) and by the tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]

# Defaults that are fine on a developer's laptop and nowhere else.
DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789abcdef"
DEV_STRIPE_API_KEY = "sk_test_dev_placeholder"
DEV_STRIPE_WEBHOOK_SECRET = "whsec_dev_placeholder"
_PLACEHOLDER_MARKERS = ("change-me", "changeme", "placeholder", "dev-only", "secret")


def _looks_like_placeholder(value: str) -> bool:
    lowered = value.lower()
    return any(marker in lowered for marker in _PLACEHOLDER_MARKERS)


class Settings(BaseSettings):
    """Every setting of the service. Variable names are part of the product's interface."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    environment: Environment = "development"

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/cinema"
    database_pool_size: int = Field(default=20, ge=1, le=200)
    redis_url: str = "redis://127.0.0.1:6379/0"

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "cinema"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_use_tls: bool = False
    smtp_timeout_seconds: float = Field(default=20.0, gt=0)
    email_from: str = "Online Cinema <no-reply@cinema.local>"

    stripe_api_key: SecretStr = SecretStr(DEV_STRIPE_API_KEY)
    stripe_webhook_secret: SecretStr = SecretStr(DEV_STRIPE_WEBHOOK_SECRET)
    stripe_api_base: str | None = None
    stripe_timeout_seconds: float = Field(default=20.0, gt=0, le=120)

    # Commerce. Prices are stored in this currency; Stripe is charged in its minor units.
    currency: str = Field(default="usd", pattern="^[a-z]{3}$")
    # How long a Stripe Checkout Session stays open (Stripe allows 30 minutes to 24 hours).
    checkout_session_ttl_seconds: int = Field(default=3600, ge=1800, le=24 * 3600)
    # After a session's expiry, how long the checkout waits for Stripe's expired event before
    # asking Stripe itself.
    checkout_expiry_grace_seconds: int = Field(default=300, ge=1, le=24 * 3600)
    # How long an order may wait for its payment from its first checkout (unset: the session
    # lifetime). New sessions are made within it; when it ends the order is cancelled.
    checkout_payment_window_seconds: int | None = Field(default=None, ge=1, le=7 * 24 * 3600)
    # The Temporal Web UI: links to runs in GET /admin/orders/{id}/workflow/.
    temporal_ui_url: str = "http://127.0.0.1:8233"
    # A buyer may ask for a refund this long after paying.
    refund_window_days: int = Field(default=14, ge=0, le=365)
    # A refund Stripe has not settled is re-read this often when no event comes.
    refund_poll_interval_seconds: int = Field(default=300, ge=1, le=24 * 3600)
    # A delayed payment method (bank debit) in flight keeps its order pending past the payment
    # window, at most this long after the page completed; then the order is cancelled (money
    # landing later is refunded automatically).
    checkout_async_payment_max_wait_seconds: int = Field(
        default=14 * 24 * 3600, ge=1, le=60 * 24 * 3600
    )

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_issuer: str = "online-cinema"
    jwt_audience: str = "online-cinema-api"
    public_base_url: str = "http://127.0.0.1:8001"
    # /docs and /openapi.json; production deployments normally switch them off.
    api_docs_enabled: bool = True

    # Token lifetimes, in seconds.
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=10, le=24 * 3600)
    refresh_token_ttl_seconds: int = Field(default=14 * 24 * 3600, ge=60)
    activation_token_ttl_seconds: int = Field(default=24 * 3600, ge=1)
    password_reset_token_ttl_seconds: int = Field(default=3600, ge=1)
    # Emails are retried until the SMTP server accepts them, backing off up to this interval.
    email_retry_max_interval_seconds: int = Field(default=60, ge=1)
    # How often the worker's schedule deletes expired tokens.
    token_cleanup_interval_seconds: int = Field(default=3600, ge=60)
    # Expired tokens deleted per statement (per token kind, up to 100 batches per run).
    token_cleanup_batch_size: int = Field(default=1000, ge=1, le=100_000)
    # The id of that schedule (workflows/schedules.py). Change it only to run a second worker
    # (e.g. a test suite) against the same Temporal namespace without touching the real one.
    token_cleanup_schedule_id: str = Field(
        default="cleanup-expired-tokens", min_length=1, max_length=200
    )
    # How often the worker's schedule reconciles open checkouts with Stripe, and its id (as above).
    reconcile_interval_seconds: int = Field(default=300, ge=10)
    reconcile_schedule_id: str = Field(default="reconcile-checkouts", min_length=1, max_length=200)
    # Only checkout sessions at least this old are looked at (a fresh webhook is on its way).
    reconcile_min_age_seconds: int = Field(default=600, ge=0)
    # Sessions looked up at Stripe per run (a backlog goes over the next runs).
    reconcile_batch_size: int = Field(default=100, ge=1, le=1000)

    # argon2id cost (OWASP minimum: m=19 MiB, t=2, p=1).
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=19 * 1024, ge=8 * 1024)
    argon2_parallelism: int = Field(default=1, ge=1)
    # Threads hashing passwords in each API process (default: one per CPU). More threads than
    # cores only thrash the cache: argon2 touches 19 MiB per hash (docs/benchmarks.md).
    password_hash_threads: int | None = Field(default=None, ge=1, le=64)

    # Rate limits: attempts per window, shared by all API processes through Redis.
    rate_limit_login: int = Field(default=10, ge=1)
    rate_limit_login_window_seconds: int = Field(default=60, ge=1)
    rate_limit_register: int = Field(default=5, ge=1)
    rate_limit_register_window_seconds: int = Field(default=600, ge=1)
    rate_limit_resend: int = Field(default=3, ge=1)
    rate_limit_resend_window_seconds: int = Field(default=600, ge=1)
    # Password reset: requests per email (and 4x per client address), and completion attempts
    # per (email, client address) (and 4x per client address).
    rate_limit_reset: int = Field(default=3, ge=1)
    rate_limit_reset_window_seconds: int = Field(default=600, ge=1)
    rate_limit_reset_complete: int = Field(default=10, ge=1)
    rate_limit_reset_complete_window_seconds: int = Field(default=600, ge=1)

    # Uploaded media (avatars) live under this folder; avatars are served at /media/avatars/.
    media_root: Path = Path(".stack/media")
    # An avatar upload is refused (413) past this size, while it is read; and (422) past this
    # many pixels, from its header, before it is decoded. The avatar routes' body limit is this
    # plus the form's overhead (api/profiles.py), not max_request_bytes.
    avatar_max_bytes: int = Field(default=1024 * 1024, ge=1024, le=20 * 1024 * 1024)
    avatar_max_pixels: int = Field(default=4096 * 4096, ge=64 * 64, le=10_000 * 10_000)

    # Every request body but an avatar upload's (above).
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Register and resend never answer faster than this, so timing tells nothing about an email.
    anti_enumeration_floor_seconds: float = Field(default=0.35, ge=0)
    # Trust X-Forwarded-For from this many proxies when keying rate limits (0 = use the peer).
    trusted_proxy_hops: int = Field(default=0, ge=0, le=5)

    @model_validator(mode="after")
    def _refuse_placeholders_outside_development(self) -> Settings:
        if self.environment == "development":
            return self
        problems = []
        jwt_secret = self.jwt_secret.get_secret_value()
        if len(jwt_secret) < 32 or _looks_like_placeholder(jwt_secret):
            problems.append("JWT_SECRET must be a random value of at least 32 characters")
        for name in ("stripe_api_key", "stripe_webhook_secret"):
            value: SecretStr = getattr(self, name)
            if _looks_like_placeholder(value.get_secret_value()):
                problems.append(f"{name.upper()} is a placeholder")
        if problems:
            raise ValueError(
                f"refusing to start with ENVIRONMENT={self.environment}: " + "; ".join(problems)
            )
        return self

    @property
    def payment_window_seconds(self) -> int:
        return self.checkout_payment_window_seconds or self.checkout_session_ttl_seconds

    @property
    def public_base(self) -> str:
        return self.public_base_url.rstrip("/")
