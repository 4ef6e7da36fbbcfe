"""The admin API (`/admin/...`): admins only, on every route (401 anonymous, 403 others).

One module per admin resource; `BLUEPRINTS` is what the app registers."""

from __future__ import annotations

from api.admin import commerce, users, workflows

BLUEPRINTS = (users.bp, commerce.bp, workflows.bp)
