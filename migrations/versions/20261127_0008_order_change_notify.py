"""Orders: Postgres notifies channel `order_changed` (payload: the order id) when an order's
status changes, or when its checkout's `payment_processing` does. Sent at commit, never for a
rolled-back change. The API wakes the requests waiting on that order
(`GET /orders/{id}/?wait=N`, api/order_watch.py) instead of having clients poll.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 06:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION notify_order_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_TABLE_NAME = 'orders' THEN
                PERFORM pg_notify('order_changed', NEW.id::text);
            ELSE
                PERFORM pg_notify('order_changed', NEW.order_id::text);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER orders_notify_status AFTER UPDATE OF status ON orders
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
        EXECUTE FUNCTION notify_order_changed()
        """
    )
    op.execute(
        """
        CREATE TRIGGER checkout_sessions_notify_processing
        AFTER UPDATE OF payment_processing ON checkout_sessions
        FOR EACH ROW WHEN (OLD.payment_processing IS DISTINCT FROM NEW.payment_processing)
        EXECUTE FUNCTION notify_order_changed()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER checkout_sessions_notify_processing ON checkout_sessions")
    op.execute("DROP TRIGGER orders_notify_status ON orders")
    op.execute("DROP FUNCTION notify_order_changed()")
