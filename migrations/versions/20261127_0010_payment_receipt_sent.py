"""Payments: `receipt_sent_at`, when the SMTP server accepted the receipt, so a retried send
(a replayed workflow task re-runs its local activities) does not mail it twice.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 06:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("receipt_sent_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("payments", "receipt_sent_at")
