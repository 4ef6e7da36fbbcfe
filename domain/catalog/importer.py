"""`cinema import-movies FILE`: a catalog from CSV or JSON in the columns of the classic
"IMDb top 1000" table (Series_Title, Released_Year, Certificate, Runtime, Genre, IMDB_Rating,
Overview, Meta_score, Director, Star1..Star4, No_of_Votes, Gross, and an optional Price).

Every row is validated by the same rules as the API (MovieFields); a bad row is reported with
its line number and reason and the rest go in. Rows are written in batches (domain.catalog.bulk).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from domain.catalog import repository as repo
from domain.catalog.bulk import upsert_movies
from domain.catalog.rules import MovieFields
from domain.db import SessionFactory, transaction

BATCH_SIZE = 500
DEFAULT_PRICE = Decimal("4.99")
UNRATED = "Not Rated"
REQUIRED = ("Series_Title", "Released_Year", "Runtime", "IMDB_Rating")
_RUNTIME = re.compile(r"^\s*(\d+)\s*(min)?\s*$")


@dataclass
class RowError:
    line: int
    reason: str


@dataclass
class ImportSummary:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(value: Any) -> Any:
    """`28,341,469` and `"7.5"` as numbers; blank as None."""
    if _blank(value):
        return None
    if isinstance(value, str):
        return value.replace(",", "").strip()
    return value


def _runtime(value: Any) -> Any:
    if isinstance(value, str) and (match := _RUNTIME.match(value)):
        return int(match.group(1))
    return value


def _names(value: Any) -> list[str]:
    if _blank(value):
        return []
    if isinstance(value, list):
        return [str(v) for v in value if not _blank(v)]
    return [part for part in str(value).split(",") if part.strip()]


def movie_from_row(row: dict[str, Any], default_price: Decimal) -> MovieFields:
    """One table row as a movie; raises ValueError with a readable reason."""
    missing = [column for column in REQUIRED if _blank(row.get(column))]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    price = row.get("Price")
    try:
        price = default_price if _blank(price) else Decimal(str(_number(price)))
    except InvalidOperation:
        raise ValueError(f"Price: not a number: {price!r}") from None
    stars = [row.get(f"Star{i}") for i in range(1, 5)]
    values = {
        "name": row["Series_Title"],
        "year": _number(row["Released_Year"]),
        "time": _runtime(row["Runtime"]),
        "imdb": _number(row["IMDB_Rating"]),
        "votes": _number(row.get("No_of_Votes")) or 0,
        "meta_score": _number(row.get("Meta_score")),
        "gross": _number(row.get("Gross")),
        "description": (row.get("Overview") or "").strip(),
        "price": price,
        "certification": row.get("Certificate") if not _blank(row.get("Certificate")) else UNRATED,
        "genres": _names(row.get("Genre")),
        "directors": _names(row.get("Director")),
        "stars": [s for s in stars if not _blank(s)],
    }
    try:
        return MovieFields.model_validate(values)
    except ValidationError as exc:
        reasons = [
            f"{_column(str(e['loc'][0]) if e['loc'] else '')}: "
            f"{str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise ValueError("; ".join(reasons)) from None


_COLUMNS = {
    "name": "Series_Title",
    "year": "Released_Year",
    "time": "Runtime",
    "imdb": "IMDB_Rating",
    "votes": "No_of_Votes",
    "meta_score": "Meta_score",
    "gross": "Gross",
    "description": "Overview",
    "price": "Price",
    "certification": "Certificate",
    "genres": "Genre",
    "directors": "Director",
    "stars": "Star1..Star4",
}


def _column(field_name: str) -> str:
    return _COLUMNS.get(field_name, field_name)


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs: the CSV line where the row starts, or the JSON item's index+1."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json" or text.lstrip().startswith("["):
        items = json.loads(text)
        if not isinstance(items, list):
            raise ValueError("a JSON catalog is a list of objects")
        for index, item in enumerate(items, start=1):
            yield index, item if isinstance(item, dict) else {}
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None:  # reads the header line
        return
    line = reader.line_num + 1
    for row in reader:
        yield line, row
        line = reader.line_num + 1


async def import_movies(
    sessions: SessionFactory,
    path: Path,
    *,
    default_price: Decimal = DEFAULT_PRICE,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    summary = ImportSummary()
    batch: dict[tuple[str, int], tuple[int, MovieFields]] = {}

    async def flush() -> None:
        if not batch:
            return
        async with transaction(sessions) as session:
            result = await upsert_movies(session, [movie for _, movie in batch.values()])
        summary.inserted += result.inserted
        summary.updated += result.updated
        batch.clear()

    for line, row in read_rows(path):
        summary.rows += 1
        try:
            movie = movie_from_row(row, default_price)
        except ValueError as exc:
            summary.errors.append(RowError(line, str(exc)))
        else:
            key = (movie.name.lower(), movie.year)
            if key in batch:
                earlier, _ = batch[key]
                summary.errors.append(
                    RowError(earlier, f"duplicate of line {line} (same title and year); skipped")
                )
            batch[key] = (line, movie)
            if len(batch) >= BATCH_SIZE:
                await flush()
        if progress is not None:
            progress(summary.rows)
    await flush()
    if summary.inserted or summary.updated:
        async with transaction(sessions) as session:
            await repo.analyze_catalog(session)
    return summary
