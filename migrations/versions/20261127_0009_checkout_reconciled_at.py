"""Checkout sessions: `reconciled_at`, when the reconcile run last asked Stripe about the
session (whatever it answered); the run lists never-checked sessions first, then the
longest-unchecked, so a batch rotates through sessions whose delayed payment is in flight.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 06:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "checkout_sessions",
        sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("checkout_sessions", "reconciled_at")
