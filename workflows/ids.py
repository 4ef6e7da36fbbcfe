"""Workflow ids and search attributes. Ids are database ids, never emails or tokens."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

USER_ID = SearchAttributeKey.for_int("UserId")
ORDER_ID = SearchAttributeKey.for_int("OrderId")


def registration_workflow_id(user_id: int) -> str:
    return f"registration:{user_id}"


def account_notice_workflow_id(user_id: int) -> str:
    return f"account-notice:{user_id}"


def password_reset_workflow_id(user_id: int) -> str:
    return f"password-reset:{user_id}"


def password_changed_notice_workflow_id(user_id: int, changed_at: int) -> str:
    return f"password-changed:{user_id}:{changed_at}"


def checkout_workflow_id(order_id: int) -> str:
    return f"checkout:{order_id}"


def refund_workflow_id(refund_id: int) -> str:
    return f"refund:{refund_id}"
