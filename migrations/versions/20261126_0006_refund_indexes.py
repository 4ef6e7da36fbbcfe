"""Refunds: at most one in flight per payment, and at most one live automatic refund of a
payment that arrived for an order that could no longer be paid.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 17:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
# The lead re-chains this after the cart (0004) and checkout (0005) migrations.
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_FLIGHT = "status IN ('requested', 'pending')"
NOT_PAYABLE = "reason = 'order_not_payable' AND status <> 'failed'"


def upgrade() -> None:
    op.create_index(
        "uq_refunds_payment_id_in_flight",
        "refunds",
        ["payment_id"],
        unique=True,
        postgresql_where=sa.text(IN_FLIGHT),
    )
    op.create_index(
        "uq_refunds_payment_id_not_payable",
        "refunds",
        ["payment_id"],
        unique=True,
        postgresql_where=sa.text(NOT_PAYABLE),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_refunds_payment_id_not_payable",
        table_name="refunds",
        postgresql_where=sa.text(NOT_PAYABLE),
    )
    op.drop_index(
        "uq_refunds_payment_id_in_flight", table_name="refunds", postgresql_where=sa.text(IN_FLIGHT)
    )
