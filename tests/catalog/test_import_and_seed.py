"""`cinema import-movies` and `cinema seed-demo`, run as an operator runs them, on Postgres."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select, text

from domain.models import Genre, Movie, Star
from tests.conftest import Stack

SAMPLE = Path(__file__).parent / "imdb_sample.csv"
ROOT = Path(__file__).resolve().parents[2]


def cinema(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": stack.settings.database_url, "ENVIRONMENT": "test"}
    for name in ("jwt_secret", "stripe_api_key", "stripe_webhook_secret"):
        env[name.upper()] = getattr(stack.settings, name).get_secret_value()
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


async def _movie(stack: Stack, name: str) -> Movie | None:
    async with stack.sessions() as session:
        return (
            await session.execute(select(Movie).where(func.lower(Movie.name) == name.lower()))
        ).scalar_one_or_none()


async def test_import_reports_bad_rows_by_line_and_is_idempotent(stack: Stack) -> None:
    first = cinema(stack, "import-movies", str(SAMPLE))
    assert first.returncode == 1, first.stderr  # some rows had problems
    assert "line 5: Released_Year" in first.stderr  # "PG" is not a year
    assert "line 7: IMDB_Rating" in first.stderr  # 42 is out of range
    assert "line 9: missing Runtime" in first.stderr
    assert "8 rows" in first.stdout and "5 movies added, 0 updated" in first.stdout
    godfather = await _movie(stack, "The Godfather")
    assert godfather is not None
    assert (godfather.year, godfather.time, godfather.imdb) == (1972, 175, 9.2)
    assert godfather.gross == 134966411 and str(godfather.price) == "4.99"

    again = cinema(stack, "import-movies", str(SAMPLE), "--default-price", "3.99")
    assert "0 movies added, 5 updated" in again.stdout, again.stdout
    async with stack.sessions() as session:
        count = (
            await session.execute(
                select(func.count()).where(func.lower(Movie.name) == "the godfather")
            )
        ).scalar_one()
        drama = (
            await session.execute(select(func.count()).where(func.lower(Genre.name) == "drama"))
        ).scalar_one()
        chaplin = (
            await session.execute(
                select(func.count()).where(func.lower(Star.name) == "charles chaplin")
            )
        ).scalar_one()
    assert (count, drama, chaplin) == (1, 1, 1)
    repriced = await _movie(stack, "The Godfather")
    assert repriced is not None and str(repriced.price) == "3.99"
    # The planner's statistics were refreshed, so the first pages after a load use the indexes.
    async with stack.sessions() as session:
        analyzed = (
            await session.execute(
                text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'movies'")
            )
        ).scalar_one()
    assert analyzed is not None


async def test_import_json_and_unreadable_files(stack: Stack, tmp_path: Path) -> None:
    rows = [
        {
            "Series_Title": "Json Movie 1",
            "Released_Year": 2003,
            "Runtime": "101 min",
            "Genre": "Drama",
            "IMDB_Rating": 7.1,
            "Director": "A Director",
            "Star1": "A Star",
            "Price": "12.50",
        },
        "not an object",
    ]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(rows))
    result = cinema(stack, "import-movies", str(path))
    assert "line 2: missing" in result.stderr
    movie = await _movie(stack, "Json Movie 1")
    assert movie is not None and str(movie.price) == "12.50"

    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    result = cinema(stack, "import-movies", str(broken))
    assert result.returncode == 2 and "cannot read" in result.stderr
    assert cinema(stack, "import-movies", str(tmp_path / "absent.csv")).returncode == 2


async def test_seed_demo_is_deterministic_and_if_empty_respects_data(stack: Stack) -> None:
    from domain.catalog.demo import demo_movies

    assert list(demo_movies(50)) == list(demo_movies(50))
    result = cinema(stack, "seed-demo", "40")
    assert result.returncode == 0, result.stderr
    assert "40 movies added" in result.stdout
    again = cinema(stack, "seed-demo", "40")
    assert "0 movies added, 40 updated" in again.stdout
    skipped = cinema(stack, "seed-demo", "40", "--if-empty")
    assert "nothing seeded" in skipped.stdout
