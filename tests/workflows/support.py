"""What the workflow tests share: recorded histories, decoded history text, handles, waits."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from sqlalchemy import select
from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHandle, WorkflowHistory

from domain.models import User
from tests.conftest import Stack
from worker import build_activities
from workflows.ids import registration_workflow_id
from workflows.messages import RegistrationResult
from workflows.registration import RegistrationWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def maybe_record(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """RECORD_HISTORIES=1 pytest ... refreshes the histories that test_replay.py replays."""
    if os.environ.get("RECORD_HISTORIES"):
        text = (await handle.fetch_history()).to_json()
        (HISTORIES / f"{name}.json").write_text(json.dumps(json.loads(text), indent=1) + "\n")


def _payload_texts(message: Message) -> Iterator[str]:
    """Every payload anywhere in a history event, decoded (they are base64 in the JSON)."""
    if isinstance(message, Payload):
        yield message.data.decode("utf-8", errors="replace")
        for value in message.metadata.values():
            yield value.decode("utf-8", errors="replace")
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.is_repeated:
            items = value.values() if field.message_type.GetOptions().map_entry else value
            for item in items:
                if isinstance(item, Message):
                    yield from _payload_texts(item)
        else:
            yield from _payload_texts(value)


def history_text(history: WorkflowHistory) -> str:
    """The history as an operator could read it: its JSON plus every payload decoded."""
    decoded = [text for event in history.events for text in _payload_texts(event)]
    return "\n".join([history.to_json(), *decoded])


async def user_id_of(stack: Stack, email: str) -> int:
    async with stack.sessions() as session:
        return int((await session.execute(select(User.id).where(User.email == email))).scalar_one())


async def registration_handle(stack: Stack, email: str) -> WorkflowHandle[Any, RegistrationResult]:
    workflow_id = registration_workflow_id(await user_id_of(stack, email))
    return stack.client.get_workflow_handle_for(RegistrationWorkflow.run, workflow_id)


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 30.0, what: str = "condition"
) -> None:
    """Poll `check` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for: {what}")
        await asyncio.sleep(0.05)


def activity_name(fn: Callable[..., Any]) -> str:
    name = activity._Definition.must_from_callable(fn).name
    assert name is not None, "dynamic activities have no name"
    return name


def activities_replacing(
    stack: Stack, settings: Any, *replacements: Callable[..., Any]
) -> tuple[list[Any], dict[str, Callable[..., Any]]]:
    """The real activities with some replaced by functions registered under the same names.

    Returns the list for a Worker and the real activities by name (to call from a replacement).
    """
    real = {activity_name(a): a for a in build_activities(settings, stack.sessions)}
    replaced = {activity_name(r): r for r in replacements}
    unknown: Sequence[str] = sorted(set(replaced) - set(real))
    assert not unknown, f"no real activity is named {unknown}"
    return [replaced.get(name, a) for name, a in real.items()], real


async def pending_activities(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    """The run's pending activities as the Temporal UI shows them (type, attempt, last failure)."""
    return list((await handle.describe()).raw_description.pending_activities)
