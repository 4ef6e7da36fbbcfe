"""Catalog: movies and the names they are linked to (genres, stars, directors, certifications).

Names are stored as given (trimmed, inner whitespace collapsed) and unique on `lower(name)`, a
database constraint, so "Action" and "action" are one genre and a race of two creates ends in
one row. A movie is unique on (lower(name), year): a remake in another year is another movie.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR, UUID
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from domain.models.base import MONEY, Base, now_default

NAME_MAX = 100
MOVIE_NAME_MAX = 250


class _Named:
    """Shape shared by genres, stars, directors and certifications: an id and a name that is
    trimmed and unique ignoring case (a database index on lower(name))."""

    __tablename__: str
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[CheckConstraint, Index]:
        return (
            CheckConstraint("name <> '' AND name = btrim(name)", name="name_trimmed"),
            Index(f"uq_{cls.__tablename__}_name_lower", func.lower(text("name")), unique=True),
        )


class Genre(_Named, Base):
    __tablename__ = "genres"


class Star(_Named, Base):
    __tablename__ = "stars"


class Director(_Named, Base):
    __tablename__ = "directors"


class Certification(_Named, Base):
    __tablename__ = "certifications"


def _link_table(name: str, other: str, other_column: str) -> Table:
    # Deleting a movie drops its links; a name still linked to a movie cannot be deleted.
    return Table(
        name,
        Base.metadata,
        Column(
            "movie_id",
            BigInteger,
            ForeignKey("movies.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Column(
            other_column,
            Integer,
            ForeignKey(f"{other}.id", ondelete="RESTRICT"),
            primary_key=True,
        ),
        Index(f"ix_{name}_{other_column}_movie_id", other_column, "movie_id"),
    )


movie_genres = _link_table("movie_genres", "genres", "genre_id")
movie_stars = _link_table("movie_stars", "stars", "star_id")
movie_directors = _link_table("movie_directors", "directors", "director_id")


class Movie(Base):
    __tablename__ = "movies"
    __table_args__ = (
        CheckConstraint("name <> '' AND name = btrim(name)", name="name_trimmed"),
        CheckConstraint("year BETWEEN 1888 AND 2100", name="year_range"),
        CheckConstraint("time > 0", name="time_positive"),
        CheckConstraint("imdb >= 1 AND imdb <= 10", name="imdb_range"),
        CheckConstraint("votes >= 0", name="votes_non_negative"),
        CheckConstraint("meta_score >= 0 AND meta_score <= 100", name="meta_score_range"),
        CheckConstraint("gross >= 0", name="gross_non_negative"),
        CheckConstraint("price >= 0", name="price_non_negative"),
        Index("uq_movies_name_lower_year", func.lower(text("name")), "year", unique=True),
        Index("ix_movies_search_vector", "search_vector", postgresql_using="gin"),
        # Browsing sorts and filters; each ends in the id tie-breaker.
        Index("ix_movies_year_id", "year", "id"),
        Index("ix_movies_imdb_id", "imdb", "id"),
        Index("ix_movies_price_id", "price", "id"),
        Index("ix_movies_created_at_id", "created_at", "id"),
        # The default order (newest first, then by title) and "top rated", as the browse query
        # writes them, over the catalog only: page 1 of either is an index scan of 20 entries,
        # and counting the catalog an index-only scan (docs/benchmarks.md).
        Index(
            "ix_movies_default_order",
            text("year DESC NULLS LAST"),
            text("lower(name)"),
            "id",
            postgresql_where=text("archived_at IS NULL"),
        ),
        Index(
            "ix_movies_imdb_desc_id",
            text("imdb DESC NULLS LAST"),
            "id",
            postgresql_where=text("archived_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    uuid: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), unique=True, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(MOVIE_NAME_MAX))
    year: Mapped[int] = mapped_column(SmallInteger)
    time: Mapped[int] = mapped_column(Integer)
    imdb: Mapped[float] = mapped_column(Double)
    votes: Mapped[int] = mapped_column(Integer, server_default="0")
    meta_score: Mapped[float | None] = mapped_column(Double)
    gross: Mapped[float | None] = mapped_column(Double)
    description: Mapped[str] = mapped_column(Text, server_default="")
    price: Mapped[Decimal] = mapped_column(MONEY)
    certification_id: Mapped[int] = mapped_column(
        ForeignKey("certifications.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    # Set instead of deleting a movie that is in someone's order history (restorable).
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Maintained by domain.catalog.repository.refresh_search from the title, description,
    # stars and directors; searched with prefix queries through the GIN index.
    search_vector: Mapped[str] = mapped_column(TSVECTOR, server_default=text("''::tsvector"))

    certification: Mapped[Certification] = relationship(lazy="raise")
    genres: Mapped[list[Genre]] = relationship(
        secondary=movie_genres, lazy="raise", order_by=Genre.name
    )
    stars: Mapped[list[Star]] = relationship(
        secondary=movie_stars, lazy="raise", order_by=Star.name
    )
    directors: Mapped[list[Director]] = relationship(
        secondary=movie_directors, lazy="raise", order_by=Director.name
    )


class CatalogVersion(Base):
    """One row holding a number that every committed catalog write raises, in the writing
    transaction itself: triggers on every catalog table (the migration's CATALOG_TABLES), so
    writes from the API, `cinema import-movies`/`seed-demo` and plain SQL all count. Anything
    derived from the catalog (the API's rendered pages) is cached under it."""

    __tablename__ = "catalog_version"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
