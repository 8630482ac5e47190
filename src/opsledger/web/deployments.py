"""Console pages for deployments: the list, one with its replicas, resources and status
history, and a form that creates one (the resources' bounds shown and checked beside
each field); scaling, the status moves the deployment may make from its status, and
deleting (the row stays, marked deleted)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from pydantic import Field as PydanticField

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
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.kit.routers import page_router
from opsledger.security.context import Ctx
from opsledger.web.console import (
    act,
    common,
    form_context,
    from_form,
    list_page,
    page_context,
    page_of_one,
    parsed,
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


class DeploymentForm(BaseModel):
    name: str = PydanticField("", max_length=2000)
    image: str = PydanticField("", max_length=2000)
    version: str = PydanticField("", max_length=2000)
    target_replicas: str = PydanticField("1", max_length=30)
    cpu_cores: str = PydanticField("", max_length=30)
    memory_mb: str = PydanticField("", max_length=30)
    gpu_units: str = PydanticField("0", max_length=30)
    storage_gb: str = PydanticField("", max_length=30)
    csrf_token: str = PydanticField("", max_length=200)

    def sent(self) -> dict[str, str]:
        return self.model_dump(exclude={"csrf_token"})

    def fields(self) -> dict[str, Any]:
        """The deployment as the API's body: blank values left for the schema to name."""
        resources = {name: getattr(self, name) for name in RESOURCES if getattr(self, name)}
        return {
            "name": self.name,
            "image": self.image,
            "version": self.version or None,
            "target_replicas": self.target_replicas or 1,
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
    found = await page_of_one(
        request,
        session,
        "deployments:read",
        lambda ctx: deployments.get(ctx, deployment_id, detail=True),
    )
    if isinstance(found, Response):
        return found
    ctx, deployment = found
    return render(
        request,
        "deployment.html",
        deployment=deployment,
        moves=sorted(
            deployments.DEPLOYMENT_TRANSITIONS[DeploymentStatus(deployment.status)]
            - {DeploymentStatus.deleted}
        ),
        **common(request, ctx),
    )


@router.post("/deployments/{deployment_id}/scale")
async def scale_deployment(
    request: Request,
    session: WriteSession,
    deployment_id: PathId,
    target_replicas: Field = "",
    csrf_token: Csrf = "",
) -> Response:

    async def scale(ctx: Ctx) -> Any:
        body = parsed(
            DeploymentScale.model_validate,
            {"target_replicas": target_replicas},
            f"{target_replicas!r} is not a number of replicas (1 to 100).",
        )
        return await deployments.scale(ctx, deployment_id, body.target_replicas)

    return await act(request, session, WRITE, csrf_token, scale, f"/deployments/{deployment_id}")


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

    async def move(ctx: Ctx) -> Any:
        body = parsed(
            DeploymentStatusChange.model_validate,
            {"status": status, "reason": reason or None},
            f"{status!r} is not a deployment status.",
        )
        return await deployments.set_status(ctx, deployment_id, body)

    return await act(request, session, WRITE, csrf_token, move, f"/deployments/{deployment_id}")


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
