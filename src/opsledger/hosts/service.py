"""Rules for hosts: unique host names, a role that exists, the lifecycle state machine,
and deletion that never loses job history."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.audit import changes
from opsledger.db.base import utcnow
from opsledger.db.types import identical
from opsledger.host_roles import repository as host_roles
from opsledger.hosts import repository
from opsledger.hosts.models import Host, HostStatus
from opsledger.hosts.schemas import (
    MAX_SELECTED_IDS,
    HostBulk,
    HostBulkResult,
    HostCreate,
    HostRead,
    HostSelector,
    HostTransition,
    HostUpdate,
    parse_tag,
)
from opsledger.kit.errors import Conflict, Forbidden, ValidationFailed, found
from opsledger.kit.pagination import Page, Rows
from opsledger.security.context import Ctx
from opsledger.security.policy import allows

RESOURCE = "host"

# new → provisioning → deployed; provisioning → failed → provisioning; a deployed host may
# be provisioned again; any host but a decommissioned one may be decommissioned.
HOST_TRANSITIONS: dict[HostStatus, set[HostStatus]] = {
    HostStatus.new: {HostStatus.provisioning, HostStatus.decommissioned},
    HostStatus.provisioning: {HostStatus.deployed, HostStatus.failed, HostStatus.decommissioned},
    HostStatus.deployed: {HostStatus.provisioning, HostStatus.decommissioned},
    HostStatus.failed: {HostStatus.provisioning, HostStatus.decommissioned},
    HostStatus.decommissioned: set(),
}


def _missing(host_id: int) -> str:
    return f"host {host_id} does not exist"


async def get(ctx: Ctx, host_id: int) -> Host:
    return found(await repository.get(ctx.session, host_id), _missing(host_id))


async def read(ctx: Ctx, host_id: int) -> HostRead:
    """The host as the API answers it, read without loading it (a read session's)."""
    row = await repository.row(ctx.session, host_id, HostRead.model_fields)
    return HostRead.model_validate(found(row, _missing(host_id)))


async def page(
    ctx: Ctx, filters: dict[str, Any], tag: str | None, limit: int, after: int | None
) -> Rows[Host]:
    parsed = None if tag is None else parse_tag(tag)
    return await repository.page(ctx.session, filters, parsed, limit, after)


async def answer_page(
    ctx: Ctx, filters: dict[str, Any], tag: str | None, limit: int, after: int | None
) -> Page[HostRead]:
    """A page of hosts as the API answers it, read without loading them (a read
    session's)."""
    parsed = None if tag is None else parse_tag(tag)
    names = HostRead.model_fields
    rows = await repository.answer_page(ctx.session, names, filters, parsed, limit, after)
    return rows.answer(HostRead)


def _criteria(selector: HostSelector) -> dict[str, Any]:
    filters = selector.model_dump(include={"host_role_id", "environment", "status"})
    return {
        "host_ids": selector.host_ids,
        "filters": {name: value for name, value in filters.items() if value is not None},
        "tags": selector.tag_matches(),
    }


async def confirmed_selection(ctx: Ctx, selector: HostSelector, expected: int | None) -> list[Host]:
    """The hosts ``selector`` matches now; Conflict when a count a user confirmed
    (``expected``) no longer holds: the selection moved since it was confirmed."""
    hosts = await resolve_selector(ctx.session, selector)
    if expected is not None and expected != len(hosts):
        raise Conflict(
            f"the selection matches {len(hosts)} hosts now, not the {expected} "
            "confirmed: look at it again"
        )
    return hosts


async def resolve_selector(session: AsyncSession, selector: HostSelector) -> list[Host]:
    """The hosts ``selector`` matches now (active, not decommissioned, every criterion
    met), ordered by id, in one statement. A host role or host id that no longer exists
    matches nothing: a selector never widens."""
    return await repository.selected(session, **_criteria(selector))


async def preview_selector(
    session: AsyncSession, selector: HostSelector, limit: int, after: int | None
) -> tuple[Rows[Host], int]:
    """A keyset page of what ``resolve_selector`` answers, and how many hosts that is."""
    return await repository.selected_page(session, **_criteria(selector), limit=limit, after=after)


async def _check(ctx: Ctx, fields: dict[str, Any], host_id: int | None = None) -> None:
    if fields.get("ssh_key_path") is not None and not allows(
        ctx.user.role, "credentials:write", ctx.user.scopes
    ):
        # A path on the controller whose key the job's agent loads: as good as a
        # credential (it could name the service account's own keys), so as guarded.
        raise Forbidden("only those who manage credentials (admins) may set ssh_key_path")
    hostname = fields.get("hostname")
    if hostname and await repository.hostname_taken(ctx.session, hostname, host_id):
        raise Conflict(f"a host named {hostname!r} already exists")
    role_id = fields.get("host_role_id")
    if role_id is not None and await host_roles.get(ctx.session, role_id) is None:
        raise ValidationFailed(f"host role {role_id} does not exist")


async def create(ctx: Ctx, body: HostCreate) -> Host:
    fields = body.model_dump()
    await _check(ctx, fields)
    return await changes.create(ctx, RESOURCE, Host(**fields))


async def update(ctx: Ctx, host_id: int, body: HostUpdate) -> Host:
    host = await get(ctx, host_id)
    fields = body.changes()
    await _check(ctx, fields, host.id)
    return await changes.update(ctx, RESOURCE, host, fields)


async def transition(ctx: Ctx, host_id: int, body: HostTransition) -> Host:
    """Compare-and-set along HOST_TRANSITIONS, stamping when it happened."""
    host = await get(ctx, host_id)
    now = utcnow()
    values: dict[str, Any] = {
        "status_changed_at": now,
        "updated_at": now,
        "error_message": body.error_message if body.status is HostStatus.failed else None,
    }
    if body.status is HostStatus.deployed:
        values["provisioned_at"] = now
    return await changes.transition(ctx, RESOURCE, host, HOST_TRANSITIONS, body.status, values)


async def bulk(ctx: Ctx, body: HostBulk) -> HostBulkResult:
    """Make ``body``'s one change to every host its selector matches now, each audited as
    if made alone, all or none (the request's transaction): a host the change does not fit
    raises and nothing is kept. A confirmed count (``expected``) that no longer matches
    is refused before anything changes: the selection moved since it was confirmed."""
    hosts = await confirmed_selection(ctx, body.selector, body.expected)
    if len(hosts) > MAX_SELECTED_IDS:
        raise ValidationFailed(
            f"the selection matches {len(hosts)} hosts; at most {MAX_SELECTED_IDS} change "
            "at once: narrow it"
        )
    if body.dry_run:
        return HostBulkResult(matched=len(hosts), changed=[])
    if body.status is None and body.tag is None:
        await _check(ctx, {"host_role_id": body.host_role_id})  # once, not once a host
    changed = []
    for host in hosts:
        if body.status is not None:
            await transition(ctx, host.id, HostTransition(status=body.status))
        else:
            values: dict[str, Any] = {"host_role_id": body.host_role_id}
            if body.tag is not None:
                key, value = body.tag_setting()
                values = {"tags": {**(host.tags or {}), key: value}}
            if all(identical(getattr(host, name), new) for name, new in values.items()):
                continue  # it has it already: not changed, not listed
            await changes.update(ctx, RESOURCE, host, values)
        changed.append(host.id)
    return HostBulkResult(matched=len(hosts), changed=changed)


async def delete(ctx: Ctx, host_id: int, hard: bool) -> None:
    """Deactivate the host; with ``hard``, delete it and (by cascade) its credentials.

    A host with jobs cannot be deleted: jobs and their logs are kept for good (they are the record),
    so such a host is deactivated or decommissioned instead."""
    host = await get(ctx, host_id)
    if not hard:
        await changes.update(ctx, RESOURCE, host, {"is_active": False})
        return
    if not allows(ctx.user.role, "hosts:purge", ctx.user.scopes):
        raise Forbidden("only an admin may delete a host for good")
    if await repository.has_jobs(ctx.session, host.id):
        raise Conflict(
            f"host {host_id} has job history, which is kept: deactivate or decommission it"
        )
    await changes.remove(ctx, RESOURCE, host)
