"""Checkout sessions: `payment_processing`, true while a delayed payment method's money is in
flight (the session completed unpaid; Stripe's async_payment_succeeded/_failed decides).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 23:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "checkout_sessions",
        sa.Column("payment_processing", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("checkout_sessions", "payment_processing")
