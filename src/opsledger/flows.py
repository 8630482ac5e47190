"""Work that spans domains.

Provisioning: ``provision(host)`` runs the host role's default playbook as a
job and moves the host to provisioning; when that job ends, the jobs service moves the
host on to deployed (success) or failed (anything else, with the job's error), in the
transaction that records the job's end. ``provision_fleet(selector)`` does the same for
every host a selector matches, as one run per role playbook: each host still moves by
its own job's result."""

from __future__ import annotations

from opsledger.freeze_windows import service as freeze_windows
from opsledger.host_roles import repository as host_roles
from opsledger.hosts import service as hosts
from opsledger.hosts.models import Host, HostStatus
from opsledger.hosts.schemas import HostSelector, HostTransition
from opsledger.jobs import service as jobs
from opsledger.jobs.models import Job
from opsledger.kit.errors import ValidationFailed
from opsledger.runs import service as runs
from opsledger.runs.models import Run
from opsledger.runs.schemas import FleetProvision
from opsledger.security.context import Ctx


async def provision(ctx: Ctx, host_id: int) -> Job:
    host = await hosts.get(ctx, host_id)
    role = await host_roles.get(ctx.session, host.host_role_id) if host.host_role_id else None
    if role is None or role.default_playbook_id is None:
        raise ValidationFailed(
            f"host {host.hostname} has no role with a default playbook to provision it with"
        )
    await freeze_windows.guard(ctx, [await jobs.runnable(ctx, role.default_playbook_id, host.id)])
    # Compare-and-set: a host already provisioning answers 409.
    await hosts.transition(ctx, host.id, HostTransition(status=HostStatus.provisioning))
    return await jobs.submit(
        ctx, role.default_playbook_id, host.id, ctx.user_id, None, provisions_host=True
    )


async def provision_fleet(ctx: Ctx, body: FleetProvision) -> list[Run]:
    """Provision every host ``body.selector`` matches: all move to provisioning (409 for
    the first that cannot, and nothing changes), then one run per default playbook."""
    matched = await hosts.resolve_selector(ctx.session, body.selector)
    if not matched:
        raise ValidationFailed("the selector matches no host in service")
    roles = {role.id: role for role in await host_roles.by_ids(ctx.session, _role_ids(matched))}
    groups: dict[int, list[int]] = {}
    for host in matched:
        role = roles.get(host.host_role_id or 0)
        if role is None or role.default_playbook_id is None:
            raise ValidationFailed(
                f"host {host.hostname} has no role with a default playbook to provision it with"
            )
        groups.setdefault(role.default_playbook_id, []).append(host.id)
    for host in matched:
        await hosts.transition(ctx, host.id, HostTransition(status=HostStatus.provisioning))
    options = body.model_dump(include={"forks", "batch_size", "max_fail_percentage"})
    return [
        await runs.launch(
            ctx, playbook_id, HostSelector(host_ids=ids), None, options, provisions_host=True
        )
        for playbook_id, ids in groups.items()
    ]


def _role_ids(matched: list[Host]) -> list[int]:
    return sorted({host.host_role_id for host in matched if host.host_role_id is not None})
