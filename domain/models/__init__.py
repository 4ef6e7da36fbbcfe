"""ORM models, one module per area. Importing this package registers every table on
`Base.metadata` (Alembic's autogenerate and the tests rely on that)."""

from domain.models.accounts import (
    ActivationToken,
    Gender,
    PasswordResetToken,
    RefreshToken,
    User,
    UserGroup,
    UserGroupModel,
    UserProfile,
)
from domain.models.base import NAMING_CONVENTION, Base
from domain.models.catalog import (
    Certification,
    Director,
    Genre,
    Movie,
    Star,
    movie_directors,
    movie_genres,
    movie_stars,
)

__all__ = [
    "NAMING_CONVENTION",
    "ActivationToken",
    "Base",
    "Certification",
    "Director",
    "Gender",
    "Genre",
    "Movie",
    "PasswordResetToken",
    "RefreshToken",
    "Star",
    "User",
    "UserGroup",
    "UserGroupModel",
    "UserProfile",
    "movie_directors",
    "movie_genres",
    "movie_stars",
]
