"""Catalog: genres, stars, directors, certifications (unique on lower(name)), movies (unique on
(lower(name), year), archived instead of deleted once ordered, a tsvector for search) and links;
the catalog version that every committed catalog write raises (triggers).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 14:16:59.483236+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every table a catalog page is built from: a write to any of them raises the catalog version.
CATALOG_TABLES = (
    "movies",
    "genres",
    "stars",
    "directors",
    "certifications",
    "movie_genres",
    "movie_stars",
    "movie_directors",
)

# Once per transaction (a transaction-local flag), at commit: the constraint triggers below are
# deferred, so the version row is locked only while the writing transaction commits. A writer
# holding it waits for nothing else, so catalog writers cannot deadlock on it; they queue for a
# moment at commit. The raise is part of the writing transaction: whoever sees the new version
# sees the write, and the other way round.
BUMP_FUNCTION = """
CREATE FUNCTION catalog_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('cinema.catalog_version_bumped', true), '') = '' THEN
        UPDATE catalog_version SET version = version + 1 WHERE id = 1;
        PERFORM set_config('cinema.catalog_version_bumped', 'yes', true);
    END IF;
    RETURN NULL;
END
$$
"""


def _catalog_version() -> None:
    op.create_table(
        "catalog_version",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_catalog_version_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_version")),
    )
    op.execute("INSERT INTO catalog_version (id, version) VALUES (1, 1)")
    op.execute(BUMP_FUNCTION)
    for table in CATALOG_TABLES:
        op.execute(
            f"CREATE CONSTRAINT TRIGGER catalog_version_bump AFTER INSERT OR UPDATE OR DELETE "
            f"ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "EXECUTE FUNCTION catalog_version_bump()"
        )
        # TRUNCATE fires no row triggers (and a constraint trigger cannot be per statement).
        op.execute(
            f"CREATE TRIGGER catalog_version_bump_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump()"
        )


def upgrade() -> None:
    op.create_table(
        "certifications",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.CheckConstraint(
            "name <> '' AND name = btrim(name)", name=op.f("ck_certifications_name_trimmed")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certifications")),
    )
    op.create_index(
        "uq_certifications_name_lower",
        "certifications",
        [sa.literal_column("lower(name)")],
        unique=True,
    )
    op.create_table(
        "directors",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.CheckConstraint(
            "name <> '' AND name = btrim(name)", name=op.f("ck_directors_name_trimmed")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directors")),
    )
    op.create_index(
        "uq_directors_name_lower", "directors", [sa.literal_column("lower(name)")], unique=True
    )
    op.create_table(
        "genres",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.CheckConstraint(
            "name <> '' AND name = btrim(name)", name=op.f("ck_genres_name_trimmed")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_genres")),
    )
    op.create_index(
        "uq_genres_name_lower", "genres", [sa.literal_column("lower(name)")], unique=True
    )
    op.create_table(
        "stars",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.CheckConstraint("name <> '' AND name = btrim(name)", name=op.f("ck_stars_name_trimmed")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stars")),
    )
    op.create_index("uq_stars_name_lower", "stars", [sa.literal_column("lower(name)")], unique=True)
    op.create_table(
        "movies",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("uuid", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("time", sa.Integer(), nullable=False),
        sa.Column("imdb", sa.Double(), nullable=False),
        sa.Column("votes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("meta_score", sa.Double(), nullable=True),
        sa.Column("gross", sa.Double(), nullable=True),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("price", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("certification_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            server_default=sa.text("''::tsvector"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "name <> '' AND name = btrim(name)", name=op.f("ck_movies_name_trimmed")
        ),
        sa.CheckConstraint("gross >= 0", name=op.f("ck_movies_gross_non_negative")),
        sa.CheckConstraint("imdb >= 1 AND imdb <= 10", name=op.f("ck_movies_imdb_range")),
        sa.CheckConstraint(
            "meta_score >= 0 AND meta_score <= 100", name=op.f("ck_movies_meta_score_range")
        ),
        sa.CheckConstraint("price >= 0", name=op.f("ck_movies_price_non_negative")),
        sa.CheckConstraint("time > 0", name=op.f("ck_movies_time_positive")),
        sa.CheckConstraint("votes >= 0", name=op.f("ck_movies_votes_non_negative")),
        sa.CheckConstraint("year BETWEEN 1888 AND 2100", name=op.f("ck_movies_year_range")),
        sa.ForeignKeyConstraint(
            ["certification_id"],
            ["certifications.id"],
            name=op.f("fk_movies_certification_id_certifications"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_movies")),
        sa.UniqueConstraint("uuid", name=op.f("uq_movies_uuid")),
    )
    op.create_index(
        op.f("ix_movies_certification_id"), "movies", ["certification_id"], unique=False
    )
    op.create_index("ix_movies_created_at_id", "movies", ["created_at", "id"], unique=False)
    op.create_index("ix_movies_imdb_id", "movies", ["imdb", "id"], unique=False)
    op.create_index("ix_movies_price_id", "movies", ["price", "id"], unique=False)
    op.create_index(
        "ix_movies_search_vector", "movies", ["search_vector"], unique=False, postgresql_using="gin"
    )
    op.create_index("ix_movies_year_id", "movies", ["year", "id"], unique=False)
    op.create_index(
        "ix_movies_default_order",
        "movies",
        [sa.text("year DESC NULLS LAST"), sa.text("lower(name)"), "id"],
        unique=False,
        postgresql_where=sa.text("archived_at IS NULL"),
    )
    op.create_index(
        "ix_movies_imdb_desc_id",
        "movies",
        [sa.text("imdb DESC NULLS LAST"), "id"],
        unique=False,
        postgresql_where=sa.text("archived_at IS NULL"),
    )
    op.create_index(
        "uq_movies_name_lower_year",
        "movies",
        [sa.literal_column("lower(name)"), "year"],
        unique=True,
    )
    op.create_table(
        "movie_directors",
        sa.Column("movie_id", sa.BigInteger(), nullable=False),
        sa.Column("director_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["director_id"],
            ["directors.id"],
            name=op.f("fk_movie_directors_director_id_directors"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["movie_id"],
            ["movies.id"],
            name=op.f("fk_movie_directors_movie_id_movies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("movie_id", "director_id", name=op.f("pk_movie_directors")),
    )
    op.create_index(
        "ix_movie_directors_director_id_movie_id",
        "movie_directors",
        ["director_id", "movie_id"],
        unique=False,
    )
    op.create_table(
        "movie_genres",
        sa.Column("movie_id", sa.BigInteger(), nullable=False),
        sa.Column("genre_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["genre_id"],
            ["genres.id"],
            name=op.f("fk_movie_genres_genre_id_genres"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["movie_id"],
            ["movies.id"],
            name=op.f("fk_movie_genres_movie_id_movies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("movie_id", "genre_id", name=op.f("pk_movie_genres")),
    )
    op.create_index(
        "ix_movie_genres_genre_id_movie_id", "movie_genres", ["genre_id", "movie_id"], unique=False
    )
    op.create_table(
        "movie_stars",
        sa.Column("movie_id", sa.BigInteger(), nullable=False),
        sa.Column("star_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["movie_id"],
            ["movies.id"],
            name=op.f("fk_movie_stars_movie_id_movies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["star_id"],
            ["stars.id"],
            name=op.f("fk_movie_stars_star_id_stars"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("movie_id", "star_id", name=op.f("pk_movie_stars")),
    )
    op.create_index(
        "ix_movie_stars_star_id_movie_id", "movie_stars", ["star_id", "movie_id"], unique=False
    )

    _catalog_version()


def downgrade() -> None:
    for table in CATALOG_TABLES:
        op.execute(f"DROP TRIGGER catalog_version_bump_truncate ON {table}")
        op.execute(f"DROP TRIGGER catalog_version_bump ON {table}")
    op.execute("DROP FUNCTION catalog_version_bump()")
    op.drop_table("catalog_version")
    op.drop_index("ix_movie_stars_star_id_movie_id", table_name="movie_stars")
    op.drop_table("movie_stars")
    op.drop_index("ix_movie_genres_genre_id_movie_id", table_name="movie_genres")
    op.drop_table("movie_genres")
    op.drop_index("ix_movie_directors_director_id_movie_id", table_name="movie_directors")
    op.drop_table("movie_directors")
    op.drop_index("uq_movies_name_lower_year", table_name="movies")
    op.drop_index("ix_movies_imdb_desc_id", table_name="movies")
    op.drop_index("ix_movies_default_order", table_name="movies")
    op.drop_index("ix_movies_year_id", table_name="movies")
    op.drop_index("ix_movies_search_vector", table_name="movies", postgresql_using="gin")
    op.drop_index("ix_movies_price_id", table_name="movies")
    op.drop_index("ix_movies_imdb_id", table_name="movies")
    op.drop_index("ix_movies_created_at_id", table_name="movies")
    op.drop_index(op.f("ix_movies_certification_id"), table_name="movies")
    op.drop_table("movies")
    op.drop_index("uq_stars_name_lower", table_name="stars")
    op.drop_table("stars")
    op.drop_index("uq_genres_name_lower", table_name="genres")
    op.drop_table("genres")
    op.drop_index("uq_directors_name_lower", table_name="directors")
    op.drop_table("directors")
    op.drop_index("uq_certifications_name_lower", table_name="certifications")
    op.drop_table("certifications")
