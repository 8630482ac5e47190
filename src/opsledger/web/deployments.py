"""Console pages for deployments: the list, one with its replicas, resources and status
history, and a form that creates one (the resources' bounds shown and checked beside
each field); scaling, the status moves the deployment may make from its status, and
deleting (the row stays, marked deleted)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import Field as PydanticField
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.applications import service as applications
from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.deployments import service as deployments
from opsledger.deployments.models import Deployment, DeploymentStatus
from opsledger.deployments.schemas import (
    DeploymentCreate,
    DeploymentQuery,
    DeploymentScale,
    DeploymentStatusChange,
    Resources,
)
from opsledger.infrastructure import service as infrastructure
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.security.context import Ctx
from opsledger.web import forms
from opsledger.web.console import (
    act,
    change_one,
    common,
    form_context,
    from_form,
    list_page,
    page_context,
    page_of_one,
    page_router,
    render,
)
from opsledger.web.forms import Csrf

router = page_router()
Field = Annotated[str, Form(max_length=2000)]
WRITE = "deployments:write"
RESOURCES = ("cpu_cores", "memory_mb", "gpu_units", "storage_gb")
# What the form shows beside each resource: the schema's own bounds.
BOUNDS = {
    name: tuple(
        next(getattr(rule, side) for rule in field.metadata if hasattr(rule, side))
        for side in ("ge", "le")
    )
    for name, field in Resources.model_fields.items()
}


class DeploymentForm(forms.Typed):
    name: str = PydanticField("", max_length=2000)
    image: str = PydanticField("", max_length=2000)
    version: str = PydanticField("", max_length=2000)
    target_replicas: str = PydanticField("1", max_length=30)
    cpu_cores: str = PydanticField("", max_length=30)
    memory_mb: str = PydanticField("", max_length=30)
    gpu_units: str = PydanticField("0", max_length=30)
    storage_gb: str = PydanticField("", max_length=30)
    application_id: str = PydanticField("", max_length=30)
    infrastructure_id: str = PydanticField("", max_length=30)

    def fields(self) -> dict[str, Any]:
        """The deployment as the API's body: blank values left for the schema to name."""
        resources = {name: getattr(self, name) for name in RESOURCES if getattr(self, name)}
        return {
            "name": self.name,
            "image": self.image,
            "version": self.version or None,
            "target_replicas": self.target_replicas or 1,
            "application_id": self.application_id or None,
            "infrastructure_id": self.infrastructure_id or None,
            "resources": resources,
        }


@router.get("/deployments")
async def deployment_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: DeploymentQuery) -> Rows[Any]:
        return await deployments.page(
            ctx, query.filters(), query.include_deleted, query.limit, query.after
        )

    return await list_page(
        request,
        session,
        "deployments:read",
        "deployments.html",
        DeploymentQuery,
        fetch,
        statuses=list(DeploymentStatus),
    )


async def _form(
    request: Request,
    ctx: Ctx,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "deployment_new.html",
        status,
        bounds=BOUNDS,
        applications=(await applications.page(ctx, {}, forms.CHOICES, None)).items,
        infrastructure=(await infrastructure.page(ctx, {}, forms.CHOICES, None)).items,
        errors=errors or {},
        sent=sent or DeploymentForm().sent(),
        **common(request, ctx),
    )


@router.get("/deployments/new")
async def new_deployment_page(request: Request, session: PrimaryReadSession) -> Response:
    ctx = await page_context(request, session, WRITE)
    if isinstance(ctx, Response):
        return ctx
    return await _form(request, ctx)


@router.post("/deployments")
async def create_deployment(
    request: Request, session: WriteSession, form: Annotated[DeploymentForm, Form()]
) -> Response:
    ctx = await form_context(request, session, WRITE, form.csrf_token)
    if isinstance(ctx, Response):
        return ctx
    fields = form.fields()

    async def save() -> Deployment:
        return await deployments.create(ctx, DeploymentCreate.model_validate(fields))

    async def again(status: int, refused: dict[str, str]) -> Response:
        # A resource's error is shown beside its own field, not under "resources".
        shown = {key.removeprefix("resources."): message for key, message in refused.items()}
        return await _form(request, ctx, status, shown, form.sent())

    made = await from_form(save, fields, again)
    if isinstance(made, Response):
        return made
    return RedirectResponse(f"/deployments/{made.id}", status_code=303)


@router.get("/deployments/{deployment_id}")
async def deployment_page(
    request: Request, session: PrimaryReadSession, deployment_id: PathId
) -> Response:
    """Owners and admins only, as in the API: anyone else gets a 404."""
    found = await page_of_one(request, session, "deployments:read", _detail(deployment_id))
    if isinstance(found, Response):
        return found
    return await _page(request, *found)


def _detail(deployment_id: int) -> Callable[[Ctx], Awaitable[Deployment]]:
    return lambda ctx: deployments.get(ctx, deployment_id, detail=True)


async def _page(
    request: Request,
    ctx: Ctx,
    deployment: Deployment,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    """The deployment; after a refused scale or move, why beside its field and what was
    typed in its form."""
    return render(
        request,
        "deployment.html",
        status,
        deployment=deployment,
        moves=sorted(
            deployments.DEPLOYMENT_TRANSITIONS[DeploymentStatus(deployment.status)]
            - {DeploymentStatus.deleted}
        ),
        errors=errors or {},
        sent=sent or {},
        **common(request, ctx),
    )


async def _change(
    request: Request,
    session: AsyncSession,
    deployment_id: int,
    csrf_token: str,
    fields: dict[str, str],
    change: Callable[[Ctx], Awaitable[Any]],
    conflict_field: str,
) -> Response:
    """A change from a form of the deployment's page; a refused one shows the page again
    with the reason beside ``conflict_field`` (or the field it names) and the form as
    typed."""

    async def again(ctx: Ctx, _: Deployment, status: int, refused: dict[str, str]) -> Response:
        # Read again: the change locked and reloaded the row, without its replicas.
        shown = await _detail(deployment_id)(ctx)
        return await _page(request, ctx, shown, status, refused, fields)

    return await change_one(
        request,
        session,
        WRITE,
        csrf_token,
        _detail(deployment_id),
        fields,
        lambda ctx, _: change(ctx),
        again,
        f"/deployments/{deployment_id}",
        conflict_field,
    )


@router.post("/deployments/{deployment_id}/scale")
async def scale_deployment(
    request: Request,
    session: WriteSession,
    deployment_id: PathId,
    target_replicas: Field = "",
    csrf_token: Csrf = "",
) -> Response:
    fields = {"target_replicas": target_replicas}

    async def scale(ctx: Ctx) -> Deployment:
        body = DeploymentScale.model_validate(fields)
        return await deployments.scale(ctx, deployment_id, body.target_replicas)

    return await _change(
        request, session, deployment_id, csrf_token, fields, scale, "target_replicas"
    )


@router.post("/deployments/{deployment_id}/move")
async def move_deployment(
    request: Request,
    session: WriteSession,
    deployment_id: PathId,
    status: Field = "",
    reason: Field = "",
    csrf_token: Csrf = "",
) -> Response:
    """One status move with its reason; one the deployment may not make now is 409."""
    fields = {"status": status, "reason": reason}

    async def move(ctx: Ctx) -> Deployment:
        body = DeploymentStatusChange.model_validate({"status": status, "reason": reason or None})
        return await deployments.set_status(ctx, deployment_id, body)

    return await _change(request, session, deployment_id, csrf_token, fields, move, "status")


@router.post("/deployments/{deployment_id}/delete")
async def delete_deployment(
    request: Request, session: WriteSession, deployment_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await act(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: deployments.delete(ctx, deployment_id),
        "/deployments",
    )
