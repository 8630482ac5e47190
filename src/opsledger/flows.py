"""Work that spans domains.

Provisioning: ``provision(host)`` runs the host role's default playbook as a
job and moves the host to provisioning; when that job ends, the jobs service moves the
host on to deployed (success) or failed (anything else, with the job's error), in the
transaction that records the job's end."""

from __future__ import annotations

from opsledger.host_roles import repository as host_roles
from opsledger.hosts import service as hosts
from opsledger.hosts.models import HostStatus
from opsledger.hosts.schemas import HostTransition
from opsledger.jobs import service as jobs
from opsledger.jobs.models import Job
from opsledger.kit.errors import ValidationFailed
from opsledger.security.context import Ctx


async def provision(ctx: Ctx, host_id: int) -> Job:
    host = await hosts.get(ctx, host_id)
    role = await host_roles.get(ctx.session, host.host_role_id) if host.host_role_id else None
    if role is None or role.default_playbook_id is None:
        raise ValidationFailed(
            f"host {host.hostname} has no role with a default playbook to provision it with"
        )
    await jobs.runnable(ctx, role.default_playbook_id, host.id)
    # Compare-and-set: a host already provisioning answers 409.
    await hosts.transition(ctx, host.id, HostTransition(status=HostStatus.provisioning))
    return await jobs.submit(
        ctx, role.default_playbook_id, host.id, ctx.user_id, None, provisions_host=True
    )
