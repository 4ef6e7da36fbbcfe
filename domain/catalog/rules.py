"""Pure rules of the catalog: names, a movie's fields, sorting and search terms.

A movie is validated by one model, `MovieFields`, on create and on PATCH (where the stored movie
and the patch are merged first), so nothing invalid can be committed either way.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from domain.models.catalog import MOVIE_NAME_MAX, NAME_MAX

NameKind = Literal["genres", "stars", "directors", "certifications"]
NAME_KINDS: tuple[NameKind, ...] = ("genres", "stars", "directors", "certifications")
FIRST_FILM_YEAR = 1888
MAX_RUNTIME_MINUTES = 1440
MAX_DESCRIPTION = 10_000
MAX_LINKED_NAMES = 50
MAX_PRICE = Decimal("99999999.99")
_WHITESPACE = re.compile(r"\s+")


def normalize_name(value: str) -> str:
    """Trim and collapse inner whitespace; case is kept (uniqueness ignores it)."""
    name = _WHITESPACE.sub(" ", value).strip()
    if not name:
        raise ValueError("Must not be empty.")
    if any(ord(c) < 32 for c in name):
        raise ValueError("Must not contain control characters.")
    return name


def name_key(name: str) -> str:
    """What two names are compared by: the normalised name, lower-cased (as the unique index)."""
    return normalize_name(name).lower()


def _unique_names(values: list[str]) -> list[str]:
    """Duplicates in one list (compared as the database compares) collapse to the first."""
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(value.lower(), value)
    return list(seen.values())


CatalogName = Annotated[
    str, Field(min_length=1, max_length=NAME_MAX), AfterValidator(normalize_name)
]
MovieName = Annotated[
    str, Field(min_length=1, max_length=MOVIE_NAME_MAX), AfterValidator(normalize_name)
]
NameList = Annotated[
    list[CatalogName], Field(max_length=MAX_LINKED_NAMES), AfterValidator(_unique_names)
]


def latest_allowed_year() -> int:
    return datetime.now(UTC).year + 1


def _not_far_future(year: int) -> int:
    if year > latest_allowed_year():
        raise ValueError(f"Year cannot be after {latest_allowed_year()}.")
    return year


# One definition of each field's rules, used by the create body and by the PATCH body (so the
# OpenAPI document shows the same bounds for both).
Year = Annotated[
    int,
    Field(ge=FIRST_FILM_YEAR, description="Release year; at most next year."),
    AfterValidator(_not_far_future),
]
Runtime = Annotated[int, Field(ge=1, le=MAX_RUNTIME_MINUTES, description="Runtime in minutes.")]
Imdb = Annotated[float, Field(ge=1, le=10, allow_inf_nan=False)]
Votes = Annotated[int, Field(ge=0, le=2_147_483_647)]
MetaScore = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Gross = Annotated[float, Field(ge=0, le=1e13, allow_inf_nan=False)]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION)]
Price = Annotated[
    Decimal,
    Field(ge=0, le=MAX_PRICE, decimal_places=2, allow_inf_nan=False, description='e.g. "9.99"'),
]


class MovieFields(BaseModel):
    """Every field of a movie, as a client writes it (POST body, or stored movie + PATCH)."""

    model_config = ConfigDict(extra="forbid")

    name: MovieName
    year: Year
    time: Runtime
    imdb: Imdb
    votes: Votes = 0
    meta_score: MetaScore | None = None
    gross: Gross | None = None
    description: Description = ""
    price: Price
    certification: CatalogName
    genres: NameList = Field(default_factory=list)
    directors: NameList = Field(default_factory=list)
    stars: NameList = Field(default_factory=list)


SORT_FIELDS = ("name", "year", "imdb", "price", "votes", "time", "meta_score", "gross", "created")
DEFAULT_SORT = "-year,name"


def parse_sort(value: str) -> list[tuple[str, bool]]:
    """`-year,name` → [("year", descending), ("name", ascending)]; unknown fields are an error."""
    keys: list[tuple[str, bool]] = []
    for raw in value.split(","):
        part = raw.strip()
        descending = part.startswith("-")
        field = part.lstrip("+-")
        if field not in SORT_FIELDS:
            raise ValueError(
                f"Unknown sort field {part!r}; use {', '.join(SORT_FIELDS)}, each optionally "
                "prefixed with '-'."
            )
        if any(field == seen for seen, _ in keys):
            raise ValueError(f"Sort field {field!r} is given twice.")
        keys.append((field, descending))
    return keys


_TERM = re.compile(r"[^\W_]+", re.UNICODE)
MAX_SEARCH_TERMS = 8


def search_terms(text: str) -> list[str]:
    """The words of a free-text search, lower-cased: punctuation and case don't matter."""
    return [t.lower()[:64] for t in _TERM.findall(text)][:MAX_SEARCH_TERMS]


def prefix_tsquery(terms: list[str]) -> str:
    """A to_tsquery text matching movies that have every term as a word prefix ("godf" finds
    "The Godfather"). Terms are alphanumeric only, so nothing of the query syntax leaks in."""
    return " & ".join(f"{term}:*" for term in terms)
