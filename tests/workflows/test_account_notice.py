"""AccountNoticeWorkflow: registering an email that has an account tells its owner instead."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowExecutionStatus

from domain.email.render import SUBJECTS
from tests.conftest import Stack
from tests.support import PASSWORD, new_email, register, register_and_activate, wait_for_mail
from tests.workflows.support import history_text, maybe_record, user_id_of
from workflows.ids import account_notice_workflow_id
from workflows.starts import password_changed_notice_start


@pytest.mark.usefixtures("worker")
async def test_second_registration_emails_a_notice_and_keeps_the_history_clean(
    stack: Stack, client
) -> None:
    email = new_email("notice")
    await register(client, email)
    await register(client, email, "An0ther$ecret")
    [notice] = await wait_for_mail(stack.mail, email, SUBJECTS["account_exists"])
    assert "register" in str(notice["Subject"]).lower()

    handle = stack.client.get_workflow_handle(
        account_notice_workflow_id(await user_id_of(stack, email))
    )
    await asyncio.wait_for(handle.result(), timeout=30)
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    text = history_text(await handle.fetch_history())
    assert f'"user_id":{await user_id_of(stack, email)}' in text.replace(" ", "")
    for secret in (email, email.split("@")[0], PASSWORD, "An0ther$ecret"):
        assert secret not in text
    await maybe_record(handle, "account_notice")


@pytest.mark.usefixtures("worker")
async def test_password_changed_notice_emails_the_owner_and_keeps_the_history_clean(
    stack: Stack, client
) -> None:
    email = new_email("pwchanged")
    await register_and_activate(client, stack.mail, email)
    user_id = await user_id_of(stack, email)
    spec = password_changed_notice_start(stack.settings, user_id, 1)
    handle = await stack.client.start_workflow(
        spec.workflow,
        spec.input,
        id=spec.id,
        task_queue=stack.settings.temporal_task_queue,
        static_summary=spec.summary,
        search_attributes=spec.search_attributes,
    )
    await asyncio.wait_for(handle.result(), timeout=30)
    [notice] = await wait_for_mail(stack.mail, email, SUBJECTS["password_changed"])
    assert "was changed" in str(notice["Subject"]).lower()
    text = history_text(await handle.fetch_history())
    for secret in (email, email.split("@")[0], PASSWORD):
        assert secret not in text
    await maybe_record(handle, "password_changed_notice")
