"""What a profile field may hold. Every rule gives a clear 422 field error; an empty value or
JSON null clears a field, and nothing is ever stored as ""."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from domain.errors import InvalidFields
from domain.models import Gender

NAME_MAX = 100
INFO_MAX = 2000
OLDEST_BIRTH_YEAR = 1900
# Letters of any script, joined by single spaces, hyphens or apostrophes: "Mary Ann",
# "Jean-Luc", "O'Brien", "Zoë", "Łukasz".
_NAME = re.compile(r"^[^\W\d_]+(?:[ '\u2019-][^\W\d_]+)*$")

TEXT_FIELDS = ("first_name", "last_name", "gender", "date_of_birth", "info")


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


class ProfileFields(BaseModel):
    """The text fields of a create or update; only the fields sent are in `model_fields_set`."""

    model_config = ConfigDict(extra="forbid")

    first_name: str | None = None
    last_name: str | None = None
    gender: Gender | None = None
    date_of_birth: date | None = None
    info: str | None = None

    @field_validator("first_name", "last_name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string")
        value = re.sub(r"\s+", " ", value)
        if len(value) > NAME_MAX:
            raise ValueError(f"must be at most {NAME_MAX} characters")
        if not _NAME.fullmatch(value):
            raise ValueError("may contain only letters, spaces, hyphens and apostrophes")
        return value

    @field_validator("gender", mode="before")
    @classmethod
    def _gender(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        if value is None:
            return None
        if not isinstance(value, str) or value.lower() not in {g.value for g in Gender}:
            raise ValueError("must be one of: man, woman")
        return Gender(value.lower())

    @field_validator("date_of_birth", mode="before")
    @classmethod
    def _date_text(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        if value is None:
            return None
        # Text only: pydantic would read a number as a Unix timestamp.
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError("must be a date as YYYY-MM-DD")
        return value

    @field_validator("date_of_birth")
    @classmethod
    def _date_range(cls, value: date | None) -> date | None:
        if value is None:
            return None
        if value.year < OLDEST_BIRTH_YEAR:
            raise ValueError(f"must be in {OLDEST_BIRTH_YEAR} or later")
        if value > date.today():
            raise ValueError("must not be in the future")
        return value

    @field_validator("info", mode="before")
    @classmethod
    def _info(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if len(value) > INFO_MAX:
            raise ValueError(f"must be at most {INFO_MAX} characters")
        return value


def parse_fields(raw: dict[str, Any]) -> ProfileFields:
    try:
        return ProfileFields.model_validate(raw)
    except ValidationError as error:
        raise InvalidFields.from_validation(error, "body") from None


def age_on(born: date, today: date) -> int:
    """Whole years by the calendar; someone born on 29 February turns a year older on
    1 March in a common year."""
    had_birthday = (today.month, today.day) >= (born.month, born.day)
    return today.year - born.year - (0 if had_birthday else 1)
