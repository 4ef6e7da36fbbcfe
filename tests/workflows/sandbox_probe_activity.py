"""The probe workflow's one activity (outside the sandbox's module, as ours are)."""

from __future__ import annotations

from temporalio import activity


@activity.defn(name="sandbox_probe_echo")
async def echo(text: str) -> str:
    return text
