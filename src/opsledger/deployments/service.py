"""Rules for deployments: per-user unique live names, replicas that follow the
target count, a status machine whose every move is recorded, and soft deletion."""

from __future__ import annotations

from typing import Any

from opsledger.applications import repository as applications
from opsledger.audit import changes
from opsledger.audit import service as audit
from opsledger.db.base import utcnow
from opsledger.deployments import repository
from opsledger.deployments.models import (
    Deployment,
    DeploymentReplica,
    DeploymentResource,
    DeploymentStatus,
    DeploymentStatusHistory,
)
from opsledger.deployments.schemas import DeploymentCreate, DeploymentStatusChange
from opsledger.infrastructure import repository as infrastructure
from opsledger.kit.errors import Conflict, NotFound, ValidationFailed
from opsledger.kit.pagination import Rows
from opsledger.security.context import Ctx

RESOURCE = "deployment"

DEPLOYMENT_TRANSITIONS: dict[DeploymentStatus, set[DeploymentStatus]] = {
    DeploymentStatus.pending: {
        DeploymentStatus.scheduled,
        DeploymentStatus.failed,
        DeploymentStatus.stopped,
        DeploymentStatus.deleted,
    },
    DeploymentStatus.scheduled: {
        DeploymentStatus.running,
        DeploymentStatus.failed,
        DeploymentStatus.stopped,
        DeploymentStatus.deleted,
    },
    DeploymentStatus.running: {
        DeploymentStatus.stopped,
        DeploymentStatus.failed,
        DeploymentStatus.deleted,
    },
    DeploymentStatus.stopped: {DeploymentStatus.scheduled, DeploymentStatus.deleted},
    DeploymentStatus.failed: {DeploymentStatus.scheduled, DeploymentStatus.deleted},
    DeploymentStatus.deleted: set(),
}


async def get(
    ctx: Ctx, deployment_id: int, *, detail: bool = False, lock: bool = False
) -> Deployment:
    deployment = await repository.get(
        ctx.session, deployment_id, ctx.visible_owner, detail=detail, lock=lock
    )
    if deployment is None:
        raise NotFound(f"deployment {deployment_id} does not exist")
    return deployment


async def page(
    ctx: Ctx, filters: dict[str, Any], include_deleted: bool, limit: int, after: int | None
) -> Rows[Deployment]:
    owner = ctx.visible_owner
    if owner is not None:
        filters = {k: v for k, v in filters.items() if k != "user_id"}
    return await repository.page(ctx.session, owner, filters, include_deleted, limit, after)


def _history(
    ctx: Ctx,
    deployment_id: int,
    old: DeploymentStatus | None,
    new: DeploymentStatus,
    reason: str | None,
) -> None:
    repository.add_history(
        ctx.session,
        DeploymentStatusHistory(
            deployment_id=deployment_id,
            from_status=old,
            to_status=new,
            changed_by=ctx.user_id,
            reason=reason,
            changed_at=utcnow(),
        ),
    )


async def create(ctx: Ctx, body: DeploymentCreate) -> Deployment:
    if await repository.live_name_taken(ctx.session, ctx.user_id, body.name):
        raise Conflict(f"you already have a deployment named {body.name!r}")
    if body.application_id and await applications.get(ctx.session, body.application_id) is None:
        raise ValidationFailed(f"application {body.application_id} does not exist")
    if (
        body.infrastructure_id
        and await infrastructure.get(ctx.session, body.infrastructure_id) is None
    ):
        raise ValidationFailed(f"infrastructure {body.infrastructure_id} does not exist")
    deployment = Deployment(
        user_id=ctx.user_id,
        **body.model_dump(exclude={"resources"}),
        status=DeploymentStatus.pending,
    )
    ctx.session.add(deployment)
    await ctx.session.flush()
    ctx.session.add(DeploymentResource(deployment_id=deployment.id, **body.resources.model_dump()))
    ctx.session.add_all(
        DeploymentReplica(deployment_id=deployment.id) for _ in range(body.target_replicas)
    )
    _history(ctx, deployment.id, None, DeploymentStatus.pending, "created")
    await ctx.session.flush()
    after = await audit.capture(ctx.session, deployment)
    audit.record(
        ctx,
        "create",
        RESOURCE,
        deployment.id,
        after=after | {"resources": body.resources.model_dump()},
    )
    return await get(ctx, deployment.id, detail=True)


async def scale(ctx: Ctx, deployment_id: int, target: int) -> Deployment:
    """Add pending replicas, or stop the newest ones, until ``target`` are active."""
    deployment = await get(ctx, deployment_id, lock=True)
    if deployment.deleted_at is not None:
        raise Conflict(f"deployment {deployment_id} is deleted")
    active = await repository.active_replicas(ctx.session, deployment.id)
    if target > len(active):
        ctx.session.add_all(
            DeploymentReplica(deployment_id=deployment.id) for _ in range(target - len(active))
        )
    else:
        surplus = [replica.id for replica in active[target:]]
        await repository.stop_replicas(ctx.session, surplus, {"stopped_at": utcnow()})
    values: dict[str, Any] = {"target_replicas": target}
    if target != len(active):  # replicas changed, if not the target: the scale is audited
        values["updated_at"] = utcnow()
    await changes.update(ctx, RESOURCE, deployment, values, action="scale")
    return await get(ctx, deployment.id, detail=True)


async def _move(
    ctx: Ctx,
    deployment: Deployment,
    target: DeploymentStatus,
    reason: str | None,
    values: dict[str, Any],
    action: str,
) -> Deployment:
    old = deployment.status
    values = {"updated_at": utcnow(), **values}
    await changes.transition(
        ctx, RESOURCE, deployment, DEPLOYMENT_TRANSITIONS, target, values, action=action
    )
    if target in (DeploymentStatus.stopped, DeploymentStatus.deleted):
        active = await repository.active_replicas(ctx.session, deployment.id)
        await repository.stop_replicas(
            ctx.session, [replica.id for replica in active], {"stopped_at": utcnow()}
        )
    _history(ctx, deployment.id, old, target, reason)
    await ctx.session.flush()
    return await get(ctx, deployment.id, detail=True)


async def set_status(ctx: Ctx, deployment_id: int, body: DeploymentStatusChange) -> Deployment:
    if body.status is DeploymentStatus.deleted:
        raise ValidationFailed("delete a deployment with DELETE, not a status change")
    deployment = await get(ctx, deployment_id, lock=True)
    return await _move(ctx, deployment, body.status, body.reason, {}, "transition")


async def delete(ctx: Ctx, deployment_id: int) -> None:
    """Soft delete: the row stays, marked deleted, its name free for reuse."""
    deployment = await get(ctx, deployment_id, lock=True)
    await _move(
        ctx, deployment, DeploymentStatus.deleted, "deleted", {"deleted_at": utcnow()}, "delete"
    )
