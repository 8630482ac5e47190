"""Rules for host roles."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.host_roles import repository
from opsledger.host_roles.models import HostRole

# Seed 000's InfraRole defaults.
DEFAULT_ROLES = {
    "frontend": "Web front end: reverse proxy and static assets",
    "redis": "Redis cache and queue",
    "npu-worker": "Inference worker with an NPU accelerator",
    "ai-stack": "AI services stack: model serving and vector store",
    "browser": "Headless browser automation host",
}


async def seed_defaults(session: AsyncSession) -> list[str]:
    """Create whichever default roles are missing; returns the names created."""
    missing = [name for name in DEFAULT_ROLES if name not in await repository.names(session)]
    await repository.add_all(
        session, [HostRole(name=name, description=DEFAULT_ROLES[name]) for name in missing]
    )
    return missing
