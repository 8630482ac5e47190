"""Rules for job templates: unique names, a playbook that exists, a selector naming hosts
and a role that exist, and the prompts' values resolved against the inventory."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.audit import changes
from opsledger.host_roles import repository as host_roles
from opsledger.hosts import repository as hosts
from opsledger.hosts import service as hosts_service
from opsledger.hosts.models import Host
from opsledger.hosts.schemas import HostSelector
from opsledger.kit.errors import Conflict, ValidationFailed, found
from opsledger.kit.pagination import Rows
from opsledger.playbooks import repository as playbooks
from opsledger.security.context import Ctx
from opsledger.templates import prompts as prompt_rules
from opsledger.templates import repository
from opsledger.templates.models import JobTemplate
from opsledger.templates.prompts import Prompt, PromptValues
from opsledger.templates.schemas import TemplateCreate, TemplateUpdate, tags_apart

RESOURCE = "job_template"


async def get(ctx: Ctx, template_id: int) -> JobTemplate:
    return found(
        await repository.get(ctx.session, template_id),
        f"job template {template_id} does not exist",
    )


async def by_reference(ctx: Ctx, reference: str) -> JobTemplate:
    """A template by name or id (the CLI's argument)."""
    return found(
        await repository.by_reference(ctx.session, reference), f"no job template {reference!r}"
    )


async def page(
    ctx: Ctx, filters: dict[str, Any], limit: int, after: int | None
) -> Rows[JobTemplate]:
    return await repository.page(ctx.session, filters, limit, after)


def selector_of(template: JobTemplate) -> HostSelector:
    return HostSelector.model_validate(template.selector)


def prompts_of(template: JobTemplate) -> list[Prompt]:
    return [Prompt.model_validate(prompt) for prompt in template.prompts or ()]


async def _check(ctx: Ctx, fields: dict[str, Any], template_id: int | None = None) -> None:
    name = fields.get("name")
    if name is not None and await repository.name_taken(ctx.session, name, template_id):
        raise Conflict(f"a job template named {name!r} already exists")
    playbook_id = fields.get("playbook_id")
    if playbook_id is not None:
        playbook = await playbooks.get(ctx.session, playbook_id)
        if playbook is None or not playbook.is_active:
            state = "does not exist" if playbook is None else "is not active"
            raise ValidationFailed.at("playbook_id", f"playbook {playbook_id} {state}")
    selector: HostSelector | None = fields.get("selector")
    if selector is None:
        return
    role_id = selector.host_role_id
    if role_id is not None and await host_roles.get(ctx.session, role_id) is None:
        raise ValidationFailed.at(
            ["selector", "host_role_id"], f"host role {role_id} does not exist"
        )
    if selector.host_ids is not None:
        missing = await hosts.missing_ids(ctx.session, selector.host_ids)
        if missing:
            names = ", ".join(map(str, missing[:20]))
            raise ValidationFailed.at(["selector", "host_ids"], f"no host has the id {names}")


def _stored(fields: dict[str, Any]) -> dict[str, Any]:
    """The columns for ``fields``: the selector and prompts as the JSON they are kept as."""
    stored = dict(fields)
    if stored.get("selector") is not None:
        stored["selector"] = stored["selector"].model_dump(mode="json", exclude_none=True)
    if "prompts" in stored:
        prompts: list[Prompt] | None = stored["prompts"]
        stored["prompts"] = (
            [prompt.model_dump(mode="json", exclude_none=True) for prompt in prompts]
            if prompts
            else None
        )
    return stored


def _parsed(body: TemplateCreate | TemplateUpdate, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with the selector and prompts as the models the body parsed them into."""
    for name in ("selector", "prompts"):
        if name in fields:
            fields[name] = getattr(body, name)
    return fields


async def create(ctx: Ctx, body: TemplateCreate) -> JobTemplate:
    fields = _parsed(body, body.model_dump())
    await _check(ctx, fields)
    return await changes.create(ctx, RESOURCE, JobTemplate(**_stored(fields)))


async def update(ctx: Ctx, template_id: int, body: TemplateUpdate) -> JobTemplate:
    template = await get(ctx, template_id)
    fields = _parsed(body, body.changes())
    try:
        tags_apart(
            fields.get("job_tags", template.job_tags), fields.get("skip_tags", template.skip_tags)
        )
    except ValueError as exc:
        raise ValidationFailed.at("skip_tags", str(exc)) from None
    await _check(ctx, fields, template.id)
    return await changes.update(ctx, RESOURCE, template, _stored(fields))


async def delete(ctx: Ctx, template_id: int) -> None:
    template = await get(ctx, template_id)
    await changes.remove(ctx, RESOURCE, template)


async def preview(
    ctx: Ctx, template_id: int, limit: int, after: int | None
) -> tuple[Rows[Host], int]:
    """The hosts the template's selector matches now: a keyset page, and how many."""
    template = await get(ctx, template_id)
    return await hosts_service.preview_selector(ctx.session, selector_of(template), limit, after)


async def inventory_choices(
    session: AsyncSession, prompts: Sequence[Prompt]
) -> dict[str, list[str]]:
    """The choices each inventory source ``prompts`` draw from has now: one query per
    source."""
    choices: dict[str, list[str]] = {}
    for source in sorted(prompt_rules.inventory_sources(prompts)):
        if source == prompt_rules.HOST_ROLES:
            choices[source] = sorted(await host_roles.names(session))
        elif source == prompt_rules.ENVIRONMENTS:
            choices[source] = await hosts.environments(session)
        else:
            key = source.removeprefix(prompt_rules.TAG_SOURCE)
            choices[source] = await hosts.tag_values(session, key)
    return choices


async def resolve_prompts(
    session: AsyncSession,
    prompts: Sequence[Prompt],
    values: Mapping[str, Any],
    *,
    loc: Sequence[str | int] = ("body", "prompts"),
    from_text: bool = False,
) -> PromptValues:
    """``templates.prompts.validate`` with the inventory's choices gathered first: the
    values a launch resolves, or a 422 naming each refused prompt at ``[*loc, name]``."""
    inventory: Mapping[str, Collection[str]] = await inventory_choices(session, prompts)
    return prompt_rules.validate(prompts, values, inventory, loc=loc, from_text=from_text)
