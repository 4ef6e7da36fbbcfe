"""The Stripe emulator as a subprocess of the local stack, and which Stripe `make dev` uses.

`start_stripe_emulator` runs `python -m devstack.stripe_emulator` (the emulator itself is the
`devstack.stripe_emulator` package) and returns its `Service`. `choose_stripe` decides, from
the settings, whether the stack uses a configured Stripe-compatible server (`STRIPE_API_BASE`),
Stripe itself (a real-looking `sk_test_` key and no `STRIPE_API_BASE`), or the emulator with
a generated key and webhook secret kept in the state directory.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devstack.ports import LOOPBACK
from devstack.process import PIDFILE_NAME, clean_env, pick_port, reap_stale, spawn, wait_until
from devstack.service import Service, ServiceError

__all__ = ["StripeChoice", "choose_stripe", "emulator_credentials", "start_stripe_emulator"]

log = logging.getLogger("devstack")

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent
_REAL_KEY = re.compile(r"^(sk|rk)_test_[0-9A-Za-z]{20,}$")
_PLACEHOLDER = ("placeholder", "change", "dummy", "example", "dev_")


def _healthy(url: str) -> bool:
    try:
        # `url` is http://127.0.0.1:PORT, built here: no file: or other scheme can reach it
        with urllib.request.urlopen(f"{url}/_emulator/health", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_stripe_emulator(
    state_dir: Path,
    port: int | None = None,
    *,
    webhook_secret: str,
    webhook_url: str | None = None,
    enabled_events: Sequence[str] = ("*",),
    api_key: str | None = None,
    state_file: Path | None = None,
    webhook_retry_seconds: float | None = None,
    webhook_max_attempts: int | None = None,
    webhook_timeout_seconds: float | None = None,
    log_path: Path | None = None,
    timeout: float = 20.0,
) -> Service:
    """Stripe emulator subprocess on 127.0.0.1:port; `.url` is what STRIPE_API_BASE should be.

    `api_key`, if given, is the only key it accepts; `state_file` keeps its state across
    restarts. The pidfile lives in `state_dir`.
    """
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    pidfile = state_dir / PIDFILE_NAME
    reap_stale(pidfile, "stripe-emulator")
    port = pick_port(port, "stripe emulator")
    argv = [
        sys.executable,
        "-m",
        "devstack.stripe_emulator",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--webhook-secret",
        webhook_secret,
    ]
    if webhook_url:
        argv += ["--webhook-url", webhook_url, "--enabled-events", ",".join(enabled_events)]
    if api_key:
        argv += ["--api-key", api_key]
    if state_file is not None:
        argv += ["--state-file", str(state_file)]
    for flag, value in (
        ("--webhook-retry-seconds", webhook_retry_seconds),
        ("--webhook-max-attempts", webhook_max_attempts),
        ("--webhook-timeout-seconds", webhook_timeout_seconds),
    ):
        if value is not None:
            argv += [flag, str(value)]
    pythonpath = os.pathsep.join(
        p for p in (str(_PACKAGE_PARENT), os.environ.get("PYTHONPATH", "")) if p
    )
    url = f"http://{LOOPBACK}:{port}"
    service = spawn(
        "stripe-emulator",
        argv,
        env=clean_env("STRIPE_", PYTHONPATH=pythonpath, PYTHONUNBUFFERED="1"),
        log_path=log_path or state_dir / "stripe-emulator.log",
        pidfile=pidfile,
        url=url,
        port=port,
    )
    wait_until(service, lambda: _healthy(url), timeout)
    log.info("stripe emulator ready at %s", url)
    return service


def emulator_credentials(state_dir: Path) -> tuple[str, str]:
    """An `sk_test_` key and a `whsec_` secret for the emulator, generated once and kept."""
    path = state_dir / "credentials.json"
    if path.exists():
        saved = json.loads(path.read_text())
        return saved["api_key"], saved["webhook_secret"]
    api_key = f"sk_test_{secrets.token_hex(24)}"
    webhook_secret = f"whsec_{secrets.token_hex(24)}"
    state_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"api_key": api_key, "webhook_secret": webhook_secret}))
    path.chmod(0o600)
    return api_key, webhook_secret


def _real_test_key(key: str | None) -> bool:
    if not key or not _REAL_KEY.match(key):
        return False
    return not any(marker in key.lower() for marker in _PLACEHOLDER)


@dataclass
class StripeChoice:
    summary: str  # the banner row
    env: dict[str, str] = field(default_factory=dict)  # settings for the API and the worker
    service: Service | None = None


def choose_stripe(
    configured: Callable[[str], str | None],
    *,
    state_dir: Path,
    port: Callable[[], int],
    webhook_url: str,
    log_path: Path,
    persist: bool = True,
    enabled_events: Sequence[str] = ("*",),
) -> StripeChoice:
    """STRIPE_API_BASE if set; Stripe itself for a real test key; else start the emulator
    (its state kept in `state_dir` across restarts unless `persist` is false)."""
    base, key = configured("STRIPE_API_BASE"), configured("STRIPE_API_KEY")
    if base:
        return StripeChoice(f"{base}  (from STRIPE_API_BASE)")
    if key and key.startswith(("sk_live_", "rk_live_")):
        raise ServiceError("STRIPE_API_KEY is a live key; the dev stack runs in test mode only")
    if _real_test_key(key):
        if not configured("STRIPE_WEBHOOK_SECRET"):
            log.warning("STRIPE_WEBHOOK_SECRET is unset: webhooks from Stripe cannot be verified")
        return StripeChoice("https://api.stripe.com  (Stripe itself, test mode: STRIPE_API_KEY)")
    api_key, webhook_secret = emulator_credentials(state_dir)
    service = start_stripe_emulator(
        state_dir,
        port(),
        webhook_secret=webhook_secret,
        webhook_url=webhook_url,
        enabled_events=enabled_events,
        api_key=api_key,
        # Without persistence nothing rewrites the whole state (all objects, events and
        # deliveries, as JSON) after every change: the benchmark's stacks (docs/benchmarks.md).
        state_file=state_dir / "state.json" if persist else None,
        log_path=log_path,
    )
    env = {
        "STRIPE_API_BASE": service.url,
        "STRIPE_API_KEY": api_key,
        "STRIPE_WEBHOOK_SECRET": webhook_secret,
    }
    summary = f"{service.url}  (emulator; webhooks to {webhook_url}; control API /_emulator/)"
    return StripeChoice(summary, env, service)
