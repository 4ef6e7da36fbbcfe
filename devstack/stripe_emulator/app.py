"""The emulator as one Quart app: its parts wired together, and its background work.

`Emulator` holds the state (`Store`), the event log, the webhook dispatcher and the idempotency
records; `create_app` mounts the `/v1` API, the hosted payment page and the `/_emulator`
control API on it. While serving, a ticker expires sessions whose `expires_at` has passed and
settles refunds that are due, and (with a state file) a persister writes the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from quart import Quart

from devstack.stripe_emulator.events import Events
from devstack.stripe_emulator.idempotency import Idempotency
from devstack.stripe_emulator.payments import run_due_timers
from devstack.stripe_emulator.store import Persister, Store
from devstack.stripe_emulator.webhooks import Dispatcher

__all__ = ["Emulator", "EmulatorConfig", "create_app"]

log = logging.getLogger("stripe_emulator")

TICK_SECONDS = 0.2


@dataclass(frozen=True)
class EmulatorConfig:
    port: int
    webhook_secret: str
    webhook_url: str | None = None
    enabled_events: tuple[str, ...] = ("*",)  # the endpoint's event types ("*": all)
    host: str = "127.0.0.1"
    state_file: Path | None = None
    webhook_retry_seconds: float = 2.0
    webhook_max_attempts: int = 8
    webhook_timeout_seconds: float = 10.0
    api_key: str | None = None  # accept only this key (else any well-formed sk_test_ key)
    public_url: str | None = None  # base of the hosted pages' URLs


class Emulator:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.public_url = (config.public_url or f"http://{config.host}:{config.port}").rstrip("/")
        self.store = Store(config.webhook_url, config.enabled_events)
        self.persister = Persister(self.store, config.state_file) if config.state_file else None
        if self.persister is not None and self.persister.load():
            log.info("state loaded from %s", config.state_file)
            if config.webhook_url:
                self.store.webhook_url = config.webhook_url
                self.store.enabled_events = list(config.enabled_events)
        self.dispatcher = Dispatcher(
            self.store,
            config.webhook_secret,
            retry_seconds=config.webhook_retry_seconds,
            max_attempts=config.webhook_max_attempts,
            timeout=config.webhook_timeout_seconds,
        )
        self.events = Events(self.store, self.dispatcher.submit)
        self.idempotency = Idempotency(self.store)
        self._tasks: list[asyncio.Task[None]] = []

    def reset(self) -> None:
        self.dispatcher.cancel_all()
        self.store.reset()

    async def _tick(self) -> None:
        while True:
            try:
                run_due_timers(self.store, self.events)
            except Exception:  # keep ticking; the log says what broke
                log.exception("background work failed")
            await asyncio.sleep(TICK_SECONDS)

    async def start(self) -> None:
        await self.dispatcher.start()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._tick()))
        if self.persister is not None:
            self._tasks.append(loop.create_task(self.persister.run()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.dispatcher.stop()
        if self.persister is not None:
            await self.persister.flush()


def create_app(config: EmulatorConfig) -> Quart:
    from devstack.stripe_emulator.api import api_blueprint
    from devstack.stripe_emulator.control import control_blueprint
    from devstack.stripe_emulator.page import page_blueprint

    emu = Emulator(config)
    app = Quart("stripe_emulator")
    app.url_map.strict_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.extensions["stripe_emulator"] = emu
    app.register_blueprint(api_blueprint(emu))
    app.register_blueprint(page_blueprint(emu))
    app.register_blueprint(control_blueprint(emu))
    app.before_serving(emu.start)
    app.after_serving(emu.stop)
    return app
