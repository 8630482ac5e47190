"""The only SQL for deployments and their replicas, resources and history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from opsledger.db import queries
from opsledger.deployments.models import (
    Deployment,
    DeploymentReplica,
    DeploymentStatusHistory,
    ReplicaStatus,
)
from opsledger.kit.pagination import Rows

ACTIVE_REPLICAS = (ReplicaStatus.pending, ReplicaStatus.starting, ReplicaStatus.running)


def _owned(statement: Any, owner_id: int | None) -> Any:
    return statement if owner_id is None else statement.where(Deployment.user_id == owner_id)


async def get(
    session: AsyncSession,
    deployment_id: int,
    owner_id: int | None,
    *,
    detail: bool = False,
    lock: bool = False,
) -> Deployment | None:
    """``lock`` holds the row until the transaction ends, so a change reads the status it
    replaces (FOR UPDATE; SQLite's writer already holds the write lock)."""
    statement = _owned(select(Deployment).where(Deployment.id == deployment_id), owner_id)
    if lock:
        statement = statement.with_for_update()
    if detail:
        statement = statement.options(
            selectinload(Deployment.resources),
            selectinload(Deployment.replicas),
            selectinload(Deployment.status_history),
        )
    found: Deployment | None = await session.scalar(
        statement.execution_options(populate_existing=True)
    )
    return found


async def live_name_taken(session: AsyncSession, owner_id: int, name: str) -> bool:
    statement = select(Deployment.id).where(
        Deployment.user_id == owner_id, Deployment.live_name == name
    )
    return await session.scalar(statement.limit(1)) is not None


async def page(
    session: AsyncSession,
    owner_id: int | None,
    filters: dict[str, Any],
    include_deleted: bool,
    limit: int,
    after: int | None,
) -> Rows[Deployment]:
    statement = _owned(select(Deployment), owner_id)
    if not include_deleted:
        statement = statement.where(Deployment.deleted_at.is_(None))
    return await queries.page(session, Deployment, filters, limit, after, statement)


async def active_replicas(session: AsyncSession, deployment_id: int) -> list[DeploymentReplica]:
    statement = (
        select(DeploymentReplica)
        .where(
            DeploymentReplica.deployment_id == deployment_id,
            DeploymentReplica.status.in_(ACTIVE_REPLICAS),
        )
        .order_by(DeploymentReplica.id)
    )
    return list(await session.scalars(statement))


async def stop_replicas(
    session: AsyncSession, replica_ids: list[int], values: dict[str, Any]
) -> None:
    if replica_ids:
        await session.execute(
            update(DeploymentReplica)
            .where(DeploymentReplica.id.in_(replica_ids))
            .values(status=ReplicaStatus.stopped, **values)
            .execution_options(synchronize_session=False)
        )


def add_history(session: AsyncSession, entry: DeploymentStatusHistory) -> None:
    session.add(entry)
