"""Movies: browse and read (public), create / update / delete / restore (moderators, admins)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, Field, field_validator
from quart import Blueprint
from quart_schema import (
    security_scheme,
    tag_blueprint,
    validate_querystring,
    validate_request,
    validate_response,
)

from api.guards import STAFF, caller_is_staff, require_group
from api.pagination import PageLinks, PageQuery, page_links
from api.schemas import BEARER, MONEY, Strict, error_responses
from api.services import services
from domain.catalog import service as catalog
from domain.catalog.rules import (
    MAX_PRICE,
    CatalogName,
    Description,
    Gross,
    Imdb,
    MetaScore,
    MovieFields,
    MovieName,
    NameList,
    Price,
    Runtime,
    Votes,
    Year,
    parse_sort,
)
from domain.db import transaction

bp = Blueprint("movies", __name__, url_prefix="/movies")
tag_blueprint(bp, ["movies"])


class NameRef(BaseModel):
    id: int
    name: str


class MovieOut(BaseModel):
    uuid: UUID
    name: str
    year: int
    time: int = Field(description="Runtime in minutes.")
    imdb: float
    votes: int
    meta_score: float | None
    gross: float | None
    description: str
    price: Decimal = Field(description=MONEY)
    certification: NameRef
    genres: list[NameRef]
    directors: list[NameRef]
    stars: list[NameRef]
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = Field(
        description="Set when the movie was archived (only moderators and admins see these)."
    )


class MovieList(PageLinks):
    movies: list[MovieOut]


class MoviePatch(Strict):
    """Any subset of a movie's fields; the result is validated as a whole, like a create."""

    name: MovieName | None = None
    year: Year | None = None
    time: Runtime | None = None
    imdb: Imdb | None = None
    votes: Votes | None = None
    meta_score: MetaScore | None = Field(default=None, description="null clears it")
    gross: Gross | None = Field(default=None, description="null clears it")
    description: Description | None = None
    price: Price | None = None
    certification: CatalogName | None = None
    genres: NameList | None = None
    directors: NameList | None = None
    stars: NameList | None = None


class DeleteResult(BaseModel):
    outcome: Literal["deleted", "archived"] = Field(
        description="`archived` when the movie is in someone's order history: hidden from "
        "browsing and carts, restorable with POST /movies/{uuid}/restore/."
    )
    message: str


# Filter bounds within the columns' types, so that no value reaches the database as an error.
MAX_YEAR = 9999


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class BrowseQuery(PageQuery):
    year: int | None = Field(default=None, ge=0, le=MAX_YEAR)
    year_from: int | None = Field(default=None, ge=0, le=MAX_YEAR)
    year_to: int | None = Field(default=None, ge=0, le=MAX_YEAR)
    imdb_min: float | None = Field(default=None, ge=0, le=10, allow_inf_nan=False)
    imdb_max: float | None = Field(default=None, ge=0, le=10, allow_inf_nan=False)
    price_min: Decimal | None = Field(default=None, ge=0, le=MAX_PRICE, allow_inf_nan=False)
    price_max: Decimal | None = Field(default=None, ge=0, le=MAX_PRICE, allow_inf_nan=False)
    genre: Annotated[list[CatalogName], BeforeValidator(_as_list)] = Field(
        default_factory=list,
        max_length=10,
        description="Exact genre name (any case); repeat it to require several genres.",
    )
    star: CatalogName | None = None
    director: CatalogName | None = None
    certification: CatalogName | None = None
    search: str | None = Field(
        default=None,
        max_length=200,
        description="Free text over title, description, stars and directors; word prefixes "
        "match. Ranked by relevance unless `sort` is given.",
    )
    sort: str | None = Field(
        default=None,
        max_length=200,
        description="Comma-separated name|year|imdb|price|votes|time|meta_score|gross|created, "
        "each optionally prefixed with '-'. Default: -year,name (newest releases first).",
    )

    @field_validator("sort")
    @classmethod
    def _known_sort(cls, value: str | None) -> str | None:
        if value is not None:
            parse_sort(value)
        return value


def _page(result: Any, query: PageQuery) -> dict[str, Any]:
    return {"movies": result.rows, **page_links(query, result.total)}


@bp.get("/")
@validate_querystring(BrowseQuery)
@validate_response(MovieList, 200)
@error_responses(400, 422, 503)
async def browse(query_args: BrowseQuery) -> dict[str, Any]:
    """Browse the catalog (no login needed): filters, free-text search, sorting, pagination.

    Every order ends with a unique tie-breaker, so pages never repeat or skip a movie; the
    page links keep every filter and the sort.
    """
    filters = catalog.MovieFilters(
        **query_args.model_dump(exclude={"page", "per_page", "genre"}), genres=query_args.genre
    )
    async with transaction(services().sessions) as session:
        result = await catalog.browse(session, filters, query_args.per_page, query_args.offset)
    return _page(result, query_args)


@bp.post("/create/")
@require_group(*STAFF)
@validate_request(MovieFields)
@validate_response(MovieOut, 201)
@error_responses(400, 401, 403, 409, 422, 503)
@security_scheme(BEARER)
async def create(data: MovieFields) -> tuple[dict[str, Any], int]:
    """Add a movie (moderators and admins). Genres, stars, directors and the certification are
    matched by exact name (ignoring case) and created when missing."""
    async with transaction(services().sessions) as session:
        return await catalog.create_movie(session, data), 201


@bp.get("/<uuid:movie_uuid>/")
@validate_response(MovieOut, 200)
@error_responses(401, 404, 503)
async def detail(movie_uuid: UUID) -> dict[str, Any]:
    """One movie (no login needed). Archived movies are visible to moderators and admins only."""
    staff = await caller_is_staff()
    async with transaction(services().sessions) as session:
        return await catalog.get_movie(session, movie_uuid, include_archived=staff)


@bp.patch("/<uuid:movie_uuid>/")
@require_group(*STAFF)
@validate_request(MoviePatch)
@validate_response(MovieOut, 200)
@error_responses(400, 401, 403, 404, 409, 422, 503)
@security_scheme(BEARER)
async def patch(movie_uuid: UUID, data: MoviePatch) -> dict[str, Any]:
    """Change some fields of a movie; the result is validated exactly like a create, and
    nothing is written when it is invalid. `meta_score` and `gross` can be cleared with null."""
    changes = data.model_dump(exclude_unset=True)
    async with transaction(services().sessions) as session:
        return await catalog.update_movie(session, movie_uuid, changes)


@bp.delete("/<uuid:movie_uuid>/")
@require_group(*STAFF)
@validate_response(DeleteResult, 200)
@error_responses(401, 403, 404, 503)
@security_scheme(BEARER)
async def delete(movie_uuid: UUID) -> DeleteResult:
    """Delete a movie nobody ever ordered; archive one that is in anyone's order history."""
    async with transaction(services().sessions) as session:
        outcome = await catalog.delete_movie(session, movie_uuid)
    message = (
        "Movie deleted."
        if outcome == "deleted"
        else "Movie archived: it is in order history, so it is hidden instead of deleted."
    )
    return DeleteResult(outcome=outcome, message=message)


@bp.post("/<uuid:movie_uuid>/restore/")
@require_group(*STAFF)
@validate_response(MovieOut, 200)
@error_responses(401, 403, 404, 409, 503)
@security_scheme(BEARER)
async def restore(movie_uuid: UUID) -> dict[str, Any]:
    """Bring an archived movie back into the catalog."""
    async with transaction(services().sessions) as session:
        return await catalog.restore_movie(session, movie_uuid)
