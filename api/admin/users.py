"""Admin: accounts (activate, change group, deactivate) and the filtered user list."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, Field, model_validator
from quart import Blueprint
from quart_schema import (
    security_scheme,
    tag_blueprint,
    validate_querystring,
    validate_request,
    validate_response,
)

from api.admin.common import (
    DateOrTime,
    admin_only,
    check_range,
    range_end,
    range_start,
    read_only,
)
from api.auth import current_user
from api.pagination import PageLinks, PageQuery, page_links
from api.schemas import BEARER, MessageResponse, Strict, error_responses
from api.services import services
from domain.accounts.rules import Email
from domain.admin import accounts as admin_accounts
from domain.db import transaction
from domain.models import UserGroup

bp = Blueprint("admin_users", __name__, url_prefix="/admin")
tag_blueprint(bp, ["admin"])


class EmailBody(Strict):
    email: Email = Field(description="Normalised (lower-cased); an exact match.")


class ChangeGroupBody(Strict):
    email: Email
    group: UserGroup = Field(description="The group by name: USER, MODERATOR or ADMIN.")


@bp.post("/accounts/activate/")
@admin_only
@validate_request(EmailBody)
@validate_response(MessageResponse, 200)
@error_responses(401, 403, 404, 422, 503)
@security_scheme(BEARER)
async def activate(data: EmailBody) -> MessageResponse:
    """Activate an account by email (its activation link stops working). No email is sent."""
    async with transaction(services().sessions) as session:
        changed = await admin_accounts.activate(session, data.email)
    return MessageResponse(
        message="User account activated." if changed else "User account is already active."
    )


@bp.post("/accounts/change-group/")
@admin_only
@validate_request(ChangeGroupBody)
@validate_response(MessageResponse, 200)
@error_responses(401, 403, 404, 409, 422, 503)
@security_scheme(BEARER)
async def change_group(data: ChangeGroupBody) -> MessageResponse:
    """Move a user into a group, by the group's name. The user's very next request is served
    with the new group (no new login). 409 `last_admin`: the last active admin cannot be
    demoted (an admin may demote themselves while another admin remains)."""
    async with transaction(services().sessions) as session:
        changed = await admin_accounts.change_group(session, data.email, data.group)
    if not changed:
        return MessageResponse(message=f"User already belongs to group {data.group.value}.")
    return MessageResponse(message=f"User group changed to {data.group.value}.")


@bp.post("/accounts/deactivate/")
@admin_only
@validate_request(EmailBody)
@validate_response(MessageResponse, 200)
@error_responses(401, 403, 404, 409, 422, 503)
@security_scheme(BEARER)
async def deactivate(data: EmailBody) -> MessageResponse:
    """Deactivate an account by email: its access tokens are refused from the next request
    and its refresh tokens revoked. 403 `cannot_target_self` for your own account; 409
    `last_admin` for the last active admin."""
    async with transaction(services().sessions) as session:
        changed = await admin_accounts.deactivate(session, data.email, current_user().id)
    return MessageResponse(
        message="User account deactivated." if changed else "User account is already inactive."
    )


class UserQuery(PageQuery):
    email: str | None = Field(
        default=None, min_length=1, max_length=320, description="Email prefix (any case)."
    )
    group: UserGroup | None = None
    is_active: bool | None = None
    joined_from: DateOrTime | None = Field(default=None, description="YYYY-MM-DD or datetime.")
    joined_to: DateOrTime | None = Field(default=None, description="Inclusive.")

    @model_validator(mode="after")
    def _range_in_order(self) -> Self:
        check_range("joined_from", self.joined_from, "joined_to", self.joined_to)
        return self


class AdminUserOut(BaseModel):
    id: int
    email: str
    group: UserGroup
    is_active: bool
    created_at: datetime
    activated_at: datetime | None


class AdminUserList(PageLinks):
    users: list[AdminUserOut]


@bp.get("/users/")
@admin_only
@validate_querystring(UserQuery)
@validate_response(AdminUserList, 200)
@error_responses(401, 403, 422, 503)
@security_scheme(BEARER)
async def list_users(query_args: UserQuery) -> dict[str, Any]:
    """Users, newest first: filter by email prefix, group, active, and joined between."""
    filters = admin_accounts.UserFilter(
        email_prefix=query_args.email.strip().lower() if query_args.email else None,
        group=query_args.group,
        is_active=query_args.is_active,
        joined_from=range_start(query_args.joined_from),
        joined_before=range_end(query_args.joined_to),
    )
    async with read_only() as session:
        rows, total = await admin_accounts.list_users(
            session, filters, query_args.per_page, query_args.offset
        )
    return {"users": rows, **page_links(query_args, total)}
