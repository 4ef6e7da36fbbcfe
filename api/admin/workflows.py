"""Admin: an order's workflow runs, for support (its checkout run and its refunds' runs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import security_scheme, tag_blueprint, validate_response

from api.admin.common import admin_only, read_only
from api.schemas import BEARER, error_responses
from api.services import services
from domain.admin import commerce as admin_commerce
from domain.db import MAX_ID
from domain.payments.errors import OrderNotFound
from workflows.ids import checkout_workflow_id, refund_workflow_id

bp = Blueprint("admin_workflows", __name__, url_prefix="/admin")
tag_blueprint(bp, ["admin"])


class RunOut(BaseModel):
    workflow_id: str
    run_id: str
    status: str = Field(description="Temporal's status of the run: RUNNING, COMPLETED, FAILED…")
    start_time: datetime
    close_time: datetime | None
    state: dict[str, Any] | None = Field(
        description="The run's `status` query result; null when it cannot answer now."
    )
    ui_url: str = Field(description="The run in the Temporal UI.")


class OrderWorkflowsOut(BaseModel):
    order_id: int
    checkout: RunOut | None = Field(description="The latest checkout run; null if none started.")
    refunds: list[RunOut] = Field(description="The runs of the order's refunds, oldest first.")


def _ui_url(workflow_id: str, run_id: str) -> str:
    settings = services().settings
    base = settings.temporal_ui_url.rstrip("/")
    namespace = quote(settings.temporal_namespace, safe="")
    return f"{base}/namespaces/{namespace}/workflows/{quote(workflow_id, safe='')}/{run_id}/history"


async def _run(workflow_id: str) -> RunOut | None:
    temporal = services().temporal
    described = await temporal.describe(workflow_id)  # Temporal down: 503
    if described is None:
        return None
    state = await temporal.query(workflow_id, "status", run_id=described.run_id)
    return RunOut(
        workflow_id=workflow_id,
        run_id=described.run_id,
        status=described.status.name if described.status else "UNKNOWN",
        start_time=described.start_time,
        close_time=described.close_time,
        state=state if isinstance(state, dict) else None,
        ui_url=_ui_url(workflow_id, described.run_id),
    )


@bp.get("/orders/<int:order_id>/workflow/")
@admin_only
@validate_response(OrderWorkflowsOut, 200)
@error_responses(401, 403, 404, 503)
@security_scheme(BEARER)
async def order_workflow(order_id: int) -> OrderWorkflowsOut:
    """The order's checkout run (`checkout:{order_id}`): run id, Temporal status, its `status`
    query and a link to the Temporal UI; and the same for each refund of the order."""
    if order_id > MAX_ID:
        raise OrderNotFound()
    async with read_only() as session:
        if not await admin_commerce.order_exists(session, order_id):
            raise OrderNotFound()
        refund_ids = await admin_commerce.order_refund_ids(session, order_id)
    refunds = [await _run(refund_workflow_id(refund_id)) for refund_id in refund_ids]
    return OrderWorkflowsOut(
        order_id=order_id,
        checkout=await _run(checkout_workflow_id(order_id)),
        refunds=[run for run in refunds if run is not None],
    )
