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

__all__ = [
    "NAMING_CONVENTION",
    "ActivationToken",
    "Base",
    "Gender",
    "PasswordResetToken",
    "RefreshToken",
    "User",
    "UserGroup",
    "UserGroupModel",
    "UserProfile",
]
