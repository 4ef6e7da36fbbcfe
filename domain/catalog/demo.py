"""A realistic, deterministic demo catalog (`cinema seed-demo N`), for development and benchmarks.

The same N always gives the same movies: titles from word lists, release years leaning to recent
decades, ratings around 6.5, a few popular genres and many rare ones, stars and directors drawn
from pools with a long tail (a few appear in many films), prices from a shop's price points.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from decimal import Decimal

from domain.catalog.rules import MovieFields

GENRES = [
    ("Drama", 30), ("Comedy", 18), ("Action", 14), ("Thriller", 12), ("Crime", 10),
    ("Romance", 9), ("Adventure", 8), ("Horror", 7), ("Sci-Fi", 6), ("Mystery", 5),
    ("Fantasy", 5), ("Animation", 4), ("Biography", 4), ("Family", 4), ("History", 3),
    ("War", 3), ("Music", 2), ("Western", 2), ("Sport", 2), ("Documentary", 2), ("Film-Noir", 1),
]  # fmt: skip
CERTIFICATIONS = [("PG-13", 30), ("R", 30), ("PG", 15), ("G", 6), ("NC-17", 2), ("Not Rated", 17)]
PRICES = [Decimal(p) for p in ("2.99", "3.99", "4.99", "5.99", "7.99", "9.99", "12.99", "14.99")]
FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Paul",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Kenneth",
    "Donna",
    "Joshua",
    "Michelle",
    "Kevin",
    "Carol",
    "Brian",
    "Amanda",
    "George",
    "Melissa",
    "Timothy",
    "Deborah",
    "Ronald",
    "Stephanie",
    "Jason",
    "Rebecca",
    "Akira",
    "Ingrid",
    "Federico",
    "Agnes",
    "Satyajit",
    "Wong",
    "Pedro",
    "Chantal",
    "Yasujiro",
    "Lina",
    "Krzysztof",
    "Hayao",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Kurosawa",
    "Bergman",
    "Fellini",
    "Varda",
    "Ray",
    "Kar-wai",
    "Almodovar",
    "Akerman",
    "Ozu",
    "Wertmuller",
    "Kieslowski",
    "Miyazaki",
]
ADJECTIVES = [
    "Silent",
    "Last",
    "Broken",
    "Hidden",
    "Golden",
    "Dark",
    "Lost",
    "Final",
    "Burning",
    "Crimson",
    "Eternal",
    "Forgotten",
    "Wild",
    "Secret",
    "Frozen",
    "Electric",
    "Distant",
    "Savage",
    "Quiet",
    "Endless",
    "Bitter",
    "Hollow",
    "Midnight",
    "Scarlet",
    "Iron",
]
NOUNS = [
    "River",
    "City",
    "Night",
    "Road",
    "Dream",
    "Empire",
    "Garden",
    "Storm",
    "Shadow",
    "Horizon",
    "Kingdom",
    "Heart",
    "Mirror",
    "Winter",
    "Summer",
    "Ocean",
    "Machine",
    "Station",
    "Letter",
    "Promise",
    "Frontier",
    "Stranger",
    "Echo",
    "Harbor",
    "Witness",
    "Orchard",
]
PATTERNS = ("The {a} {n}", "{a} {n}", "The {n}", "{n} of the {a} {n2}", "A {a} {n}", "{n} {i}")
PLOTS = (
    "A {job} in {place} must {goal} before {deadline}.",
    "When {event}, a {job} and an unlikely ally set out to {goal}.",
    "Years after {event}, a {job} returns to {place} to {goal}.",
)
JOBS = [
    "detective",
    "teacher",
    "pilot",
    "nurse",
    "thief",
    "composer",
    "farmer",
    "journalist",
    "soldier",
    "chef",
]
PLACES = [
    "Paris",
    "a small town",
    "Tokyo",
    "the desert",
    "a space station",
    "New York",
    "the mountains",
]
GOALS = [
    "find the truth",
    "save a family",
    "win one last race",
    "pay an old debt",
    "escape the city",
]
DEADLINES = [
    "the winter ends",
    "the storm arrives",
    "dawn",
    "the election",
    "the last train leaves",
]
EVENTS = ["a stranger arrives", "the war ends", "a letter is found", "the factory closes"]


def _weighted(rng: random.Random, options: list[tuple[str, int]]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _people(rng: random.Random, count: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if len(seen) >= len(FIRST) * len(LAST) * 0.9:
            name = f"{name} {len(names)}"
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names


def _long_tail(rng: random.Random, pool: list[str], k: int) -> list[str]:
    """k distinct names, the first of the pool far more often than the last (Zipf-like)."""
    picked: list[str] = []
    while len(picked) < k:
        index = min(int(len(pool) * rng.random() ** 2.5), len(pool) - 1)
        if pool[index] not in picked:
            picked.append(pool[index])
    return picked


def demo_movies(count: int, seed: int = 2026) -> Iterator[MovieFields]:
    rng = random.Random(seed)  # noqa: S311  (deterministic demo data, not a secret)
    stars = _people(rng, max(8, count // 3))
    directors = _people(rng, max(4, count // 8))
    taken: set[tuple[str, int]] = set()
    for n in range(count):
        year = min(2025, int(2026 - rng.expovariate(1 / 22)))
        year = max(year, 1920)
        title = rng.choice(PATTERNS).format(
            a=rng.choice(ADJECTIVES), n=rng.choice(NOUNS), n2=rng.choice(NOUNS), i=n % 7 + 2
        )
        if (title.lower(), year) in taken:
            title = f"{title} {n}"
        taken.add((title.lower(), year))
        genres = {_weighted(rng, GENRES) for _ in range(rng.choice((1, 2, 2, 3)))}
        plot = rng.choice(PLOTS).format(
            job=rng.choice(JOBS),
            place=rng.choice(PLACES),
            goal=rng.choice(GOALS),
            deadline=rng.choice(DEADLINES),
            event=rng.choice(EVENTS),
        )
        imdb = round(min(9.6, max(1.5, rng.gauss(6.6, 0.9))), 1)
        votes = int(math.exp(rng.gauss(10.5, 1.6)))
        yield MovieFields(
            name=title,
            year=year,
            time=max(60, min(240, int(rng.gauss(112, 22)))),
            imdb=imdb,
            votes=votes,
            meta_score=None
            if rng.random() < 0.15
            else max(5, min(100, round(imdb * 10 + rng.gauss(0, 8)))),
            gross=None if rng.random() < 0.2 else round(votes * rng.uniform(20, 400), 2),
            description=plot,
            price=rng.choice(PRICES),
            certification=_weighted(rng, CERTIFICATIONS),
            genres=sorted(genres),
            directors=_long_tail(rng, directors, 1 if rng.random() < 0.9 else 2),
            stars=_long_tail(rng, stars, rng.choice((2, 3, 4, 4))),
        )
