"""Rules for applications: unique names; one in use by a deployment stays."""

from __future__ import annotations

from typing import Any

from opsledger.applications import repository
from opsledger.applications.models import Application
from opsledger.applications.schemas import ApplicationCreate, ApplicationUpdate
from opsledger.audit import changes
from opsledger.kit.errors import Conflict, found
from opsledger.kit.pagination import Rows
from opsledger.security.context import Ctx

RESOURCE = "application"


async def get(ctx: Ctx, application_id: int) -> Application:
    return found(
        await repository.get(ctx.session, application_id),
        f"application {application_id} does not exist",
    )


async def page(
    ctx: Ctx, filters: dict[str, Any], limit: int, after: int | None
) -> Rows[Application]:
    return await repository.page(ctx.session, filters, limit, after)


async def _name_free(ctx: Ctx, name: str | None, application_id: int | None = None) -> None:
    if name is not None and await repository.name_taken(ctx.session, name, application_id):
        raise Conflict(f"an application named {name!r} already exists")


async def create(ctx: Ctx, body: ApplicationCreate) -> Application:
    await _name_free(ctx, body.name)
    return await changes.create(ctx, RESOURCE, Application(**body.model_dump()))


async def update(ctx: Ctx, application_id: int, body: ApplicationUpdate) -> Application:
    application = await get(ctx, application_id)
    fields = body.changes()
    await _name_free(ctx, fields.get("name"), application.id)
    return await changes.update(ctx, RESOURCE, application, fields)


async def delete(ctx: Ctx, application_id: int) -> None:
    application = await get(ctx, application_id)
    if await repository.in_use(ctx.session, application.id):
        raise Conflict(f"application {application_id} is used by deployments")
    await changes.remove(ctx, RESOURCE, application)
