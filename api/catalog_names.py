"""Genres, stars, directors and certifications: the same five routes for each kind, under
/movies/<kind>/. Everyone reads; moderators and admins write."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import (
    security_scheme,
    tag_blueprint,
    validate_querystring,
    validate_request,
    validate_response,
)

from api.guards import STAFF, require_group
from api.movies import MovieOut
from api.pagination import PageLinks, PageQuery, page_links
from api.schemas import BEARER, MessageResponse, Strict, error_responses
from api.services import services
from domain.catalog import name_repository as name_repo
from domain.catalog import names as catalog
from domain.catalog.rules import NAME_KINDS, CatalogName, NameKind
from domain.db import transaction


class NameBody(Strict):
    name: CatalogName


class NameItem(BaseModel):
    id: int
    name: str
    total_movies: int = Field(description="Movies in the catalog that use it.")


class NameSearch(PageQuery):
    search: str | None = Field(
        default=None, max_length=100, description="Names starting with this (any case)."
    )


class NameDetail(NameItem, PageLinks):
    movies: list[MovieOut]


def _blueprint(kind: NameKind) -> Blueprint:
    singular = catalog.SINGULAR[kind]
    bp = Blueprint(kind, __name__, url_prefix=f"/movies/{kind}")
    tag_blueprint(bp, [kind])
    list_model = type(
        f"{singular.title()}List", (PageLinks,), {"__annotations__": {kind: list[NameItem]}}
    )

    @bp.get("/")
    @validate_querystring(NameSearch)
    @validate_response(list_model, 200)
    @error_responses(400, 422, 503)
    async def list_names(query_args: NameSearch) -> dict[str, Any]:
        async with transaction(services().sessions) as session:
            items, total = await name_repo.list_names(
                session, kind, query_args.search, query_args.per_page, query_args.offset
            )
        return {kind: items, **page_links(query_args, total)}

    @bp.post("/create/")
    @require_group(*STAFF)
    @validate_request(NameBody)
    @validate_response(NameItem, 201)
    @error_responses(400, 401, 403, 409, 422, 503)
    @security_scheme(BEARER)
    async def create(data: NameBody) -> tuple[dict[str, Any], int]:
        async with transaction(services().sessions) as session:
            return await catalog.create_name(session, kind, data.name), 201

    @bp.get("/<int:name_id>/")
    @validate_querystring(PageQuery)
    @validate_response(NameDetail, 200)
    @error_responses(400, 404, 422, 503)
    async def detail(name_id: int, query_args: PageQuery) -> dict[str, Any]:
        async with transaction(services().sessions) as session:
            found, page = await catalog.movies_with_name(
                session, kind, name_id, query_args.per_page, query_args.offset
            )
        return {**found, "movies": page.rows, **page_links(query_args, page.total)}

    @bp.patch("/<int:name_id>/")
    @require_group(*STAFF)
    @validate_request(NameBody)
    @validate_response(NameItem, 200)
    @error_responses(400, 401, 403, 404, 409, 422, 503)
    @security_scheme(BEARER)
    async def rename(name_id: int, data: NameBody) -> dict[str, Any]:
        async with transaction(services().sessions) as session:
            return await catalog.rename(session, kind, name_id, data.name)

    @bp.delete("/<int:name_id>/")
    @require_group(*STAFF)
    @validate_response(MessageResponse, 200)
    @error_responses(401, 403, 404, 409, 503)
    @security_scheme(BEARER)
    async def delete(name_id: int) -> MessageResponse:
        async with transaction(services().sessions) as session:
            await catalog.delete_name(session, kind, name_id)
        return MessageResponse(message=f"The {singular} was deleted.")

    list_names.__doc__ = f"List {kind} by name (no login needed), with how many movies use each."
    create.__doc__ = f"Create a {singular}; names are unique ignoring case (409 otherwise)."
    detail.__doc__ = f"A {singular} and its movies (paginated, by title; no login needed)."
    rename.__doc__ = f"Rename a {singular} (409 when another one has that name)."
    delete.__doc__ = f"Delete a {singular} that no movie uses (409 with the count otherwise)."
    return bp


BLUEPRINTS = [_blueprint(kind) for kind in NAME_KINDS]
