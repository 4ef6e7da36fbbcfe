"""Sending one email from an activity: the one way every activity mails."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from email.message import Message
from typing import TypeVar

import aiosmtplib
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.email.mailer import Mailer

HEARTBEAT_EVERY_SECONDS = 2.0
T = TypeVar("T")


async def heartbeating(work: Awaitable[T], every: float = HEARTBEAT_EVERY_SECONDS) -> T:
    """Await `work`, heartbeating meanwhile: a worker that dies mid-send is noticed within the
    heartbeat timeout (seconds), not the whole start-to-close timeout."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            if not activity.info().is_local:  # a local activity has no heartbeat
                activity.heartbeat()
    finally:
        task.cancel()


async def deliver(mailer: Mailer, message: Message) -> None:
    """Hand `message` to the SMTP server, heartbeating meanwhile. A failure is retryable:
    Temporal retries until the server accepts it. The original error can name the recipient,
    so only its type reaches the workflow history."""
    try:
        await heartbeating(mailer.send(message))
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise ApplicationError(
            f"SMTP delivery failed ({type(exc).__name__}); will retry",
            type="SMTPDeliveryFailed",
        ) from None
