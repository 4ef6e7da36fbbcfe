"""What the admin routes share: the guard and the date-range filter of the lists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, model_validator
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.guards import require_group
from api.pagination import PageQuery
from api.services import services
from domain.db import transaction
from domain.models import UserGroup

admin_only = require_group(UserGroup.ADMIN)

MAX_ID = 2**63 - 1
RANGE_DOC = "A date (YYYY-MM-DD: the whole day, UTC) or an ISO datetime (no offset: UTC)."


def _date_or_datetime(value: Any) -> Any:
    """`YYYY-MM-DD` is a day; anything longer must be an ISO datetime (never guessed)."""
    if isinstance(value, str):
        try:
            if len(value) == 10:
                return date.fromisoformat(value)
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("expected YYYY-MM-DD or an ISO 8601 datetime") from None
    return value


DateOrTime = Annotated[date | datetime, BeforeValidator(_date_or_datetime)]


def range_start(value: date | datetime | None) -> datetime | None:
    """Inclusive lower bound."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time.min, tzinfo=UTC)


def range_end(value: date | datetime | None) -> datetime | None:
    """Exclusive upper bound: a date includes its whole day; a datetime is itself included."""
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value + timedelta(microseconds=1)
    return datetime.combine(value + timedelta(days=1), time.min, tzinfo=UTC)


class CreatedRangeQuery(PageQuery):
    """Pagination, a user (id or email) and a creation range; newest first."""

    user_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    email: str | None = Field(
        default=None, min_length=1, max_length=320, description="Exact email (any case)."
    )
    created_from: DateOrTime | None = Field(default=None, description=RANGE_DOC)
    created_to: DateOrTime | None = Field(default=None, description=RANGE_DOC + " Inclusive.")

    @model_validator(mode="after")
    def _range_in_order(self) -> Self:
        start, end = range_start(self.created_from), range_end(self.created_to)
        if start is not None and end is not None and start >= end:
            raise ValueError("created_from must not be after created_to")
        return self

    @property
    def normalised_email(self) -> str | None:
        return self.email.strip().lower() if self.email is not None else None


@asynccontextmanager
async def read_only() -> AsyncIterator[AsyncSession]:
    """A transaction Postgres itself keeps read-only: an admin GET can never write (W26)."""
    async with transaction(services().sessions) as session:
        await session.execute(text("SET TRANSACTION READ ONLY"))
        yield session
