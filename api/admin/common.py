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
from domain.db import MAX_ID, transaction
from domain.models import UserGroup

admin_only = require_group(UserGroup.ADMIN)

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


def check_range(
    from_name: str,
    from_value: date | datetime | None,
    to_name: str,
    to_value: date | datetime | None,
) -> None:
    """A list's range filter: `from` must not be after `to` (an inclusive `to`; either may be
    missing). A ValueError, which the query's validation answers with a 422."""
    start, end = range_start(from_value), range_end(to_value)
    if start is not None and end is not None and start >= end:
        raise ValueError(f"{from_name} must not be after {to_name}")


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
        check_range("created_from", self.created_from, "created_to", self.created_to)
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
