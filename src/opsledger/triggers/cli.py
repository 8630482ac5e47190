"""``opsledger triggers …``: list triggers, add one for a template (its secret printed
once), rotate its secret, read its deliveries, delete it."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from opsledger.commands import load_settings, out, parse, run_in_context
from opsledger.security.context import Ctx
from opsledger.templates import service as templates
from opsledger.templates.cli import pair
from opsledger.triggers import service
from opsledger.triggers.models import Trigger
from opsledger.triggers.schemas import HOOKS, TriggerCreate, TriggerQuery
from opsledger.users import service as users

triggers_cli = typer.Typer(no_args_is_help=True)


def _created(trigger: Trigger, secret: str) -> None:
    out.print(f"trigger {trigger.id} {trigger.name}: POST {HOOKS}/{trigger.id}", highlight=False)
    out.print(f"secret (shown once): {secret}", highlight=False)


@triggers_cli.command("list")
def list_triggers(limit: Annotated[int, typer.Option(min=1, max=500)] = 50) -> None:
    """List triggers: the template each launches, its rate and alert matchers."""
    settings = load_settings()
    query = parse(TriggerQuery, {"limit": limit})
    rows = run_in_context(
        settings, lambda ctx: service.page(ctx, query.filters(), query.limit, None)
    )
    table = Table("id")
    table.add_column("name", no_wrap=True)
    for heading in ("template", "owner", "per minute", "alerts", "enabled"):
        table.add_column(heading)
    for trigger in rows.items:
        table.add_row(
            str(trigger.id),
            trigger.name,
            str(trigger.template_id),
            str(trigger.user_id),
            str(trigger.rate_per_minute),
            json.dumps(trigger.alert_matchers) if trigger.alert_matchers else "-",
            "yes" if trigger.enabled else "no",
        )
    out.print(table)


@triggers_cli.command("add")
def add_trigger(
    name: Annotated[str, typer.Argument(help="The trigger's name.")],
    template: Annotated[str, typer.Option("--template", "-t", help="Template name or id.")],
    prompt: Annotated[
        list[str] | None,
        typer.Option("-p", "--prompt", help="PROMPT=/json/pointer in the payload; repeatable."),
    ] = None,
    alert: Annotated[
        list[str] | None,
        typer.Option("--alert", help="LABEL=VALUE a firing alert must have; repeatable."),
    ] = None,
    rate: Annotated[int, typer.Option("--rate", help="Launches a minute at most.")] = 10,
    user: Annotated[str, typer.Option(help="The user its runs are for.")] = "admin",
) -> None:
    """A trigger for a template: prints its URL and its secret, once."""
    settings = load_settings()
    matchers = dict(pair(each) for each in alert or ())

    async def add(ctx: Ctx) -> tuple[Trigger, str]:
        chosen = await templates.by_reference(ctx, template)
        body = parse(
            TriggerCreate,
            {
                "name": name,
                "template_id": chosen.id,
                "prompts": dict(pair(each) for each in prompt or ()),
                "alert_matchers": matchers or None,
                "rate_per_minute": rate,
            },
        )
        person = await users.by_username(ctx, user)
        return await service.create(ctx, body, owner_id=person.id)

    _created(*run_in_context(settings, add))


@triggers_cli.command("rotate")
def rotate(trigger: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """A new secret (printed once); deliveries signed with the old one are refused."""
    settings = load_settings()

    async def rotated(ctx: Ctx) -> tuple[Trigger, str]:
        return await service.rotate_secret(ctx, (await service.by_reference(ctx, trigger)).id)

    _created(*run_in_context(settings, rotated))


@triggers_cli.command("deliveries")
def deliveries(
    trigger: Annotated[str, typer.Argument(help="Name or id.")],
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
) -> None:
    """The trigger's latest deliveries: what came of each, and why."""
    settings = load_settings()

    async def page(ctx: Ctx) -> list[tuple[str, ...]]:
        found = await service.by_reference(ctx, trigger)
        rows = await service.deliveries_page(ctx, found.id, limit, None)
        return [
            (
                d.created_at.isoformat(timespec="seconds"),
                d.delivery_id or "-",
                str(d.outcome),
                str(d.status_code),
                str(d.run_id or "-"),
                d.reason or "",
            )
            for d in rows.items
        ]

    table = Table("at", "delivery", "outcome", "status", "run", "reason")
    for row in run_in_context(settings, page):
        table.add_row(*row)
    out.print(table)


@triggers_cli.command("delete")
def delete_trigger(trigger: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Delete a trigger: its URL answers 404 from now on."""
    settings = load_settings()

    async def delete(ctx: Ctx) -> None:
        await service.delete(ctx, (await service.by_reference(ctx, trigger)).id)

    run_in_context(settings, delete)
    out.print(f"trigger {trigger} deleted", highlight=False)
