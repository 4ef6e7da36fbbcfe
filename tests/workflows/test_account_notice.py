"""AccountNoticeWorkflow: registering an email that has an account tells its owner instead."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowExecutionStatus

from domain.email.render import SUBJECTS
from tests.conftest import Stack
from tests.support import PASSWORD, new_email, register, wait_for_mail
from tests.workflows.support import history_text, maybe_record, user_id_of
from workflows.ids import account_notice_workflow_id


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
