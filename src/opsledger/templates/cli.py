"""``opsledger templates …``: list and show job templates, and launch one (prompt values
with -p, checked by the same validator as the API's)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.commands import (
    OverrideReasonOption,
    install_keys,
    load_settings,
    out,
    parse,
    run_in_context,
)
from opsledger.db.session import session_factory, unit_of_work
from opsledger.jobs.cli import extra_vars_from_options
from opsledger.runs import service as runs
from opsledger.runs.cli import launched
from opsledger.runs.models import Run
from opsledger.security.context import cli_context
from opsledger.templates import service
from opsledger.templates.schemas import TemplateLaunchRequest, TemplateQuery
from opsledger.users import service as users

templates_cli = typer.Typer(no_args_is_help=True)


# What a launch adds to a template, on any command that launches one (or schedules it).
PromptOption = Annotated[
    list[str] | None, typer.Option("-p", "--prompt", help="NAME=VALUE; repeatable.")
]
ExtraVarsOption = Annotated[
    list[str] | None,
    typer.Option("-e", "--extra-vars", help="KEY=VALUE or a JSON object; repeatable."),
]
LimitOption = Annotated[
    str | None, typer.Option(help="Only these host ids (comma-separated) of its selection.")
]


@templates_cli.command("list")
def list_templates(
    name: Annotated[str | None, typer.Option(help="Only the template of this name.")] = None,
    playbook: Annotated[
        int | None, typer.Option(help="Only templates of this playbook id.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """List job templates."""
    settings = load_settings()
    query = parse(TemplateQuery, {"name": name, "playbook_id": playbook, "limit": limit})
    rows = run_in_context(
        settings, lambda ctx: service.page(ctx, query.filters(), query.limit, None)
    )
    table = Table("id", "name", "playbook", "selector", "forks", "batch", "prompts")
    for template in rows.items:
        table.add_row(
            str(template.id),
            template.name,
            str(template.playbook_id),
            str(template.selector),
            str(template.forks),
            str(template.batch_size or "all"),
            ", ".join(prompt["name"] for prompt in template.prompts or ()) or "-",
        )
    out.print(table)


@templates_cli.command("show")
def show_template(name: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """A template: its playbook, selector, options and prompts."""
    settings = load_settings()
    template = run_in_context(settings, lambda ctx: service.by_reference(ctx, name))
    out.print(f"{template.name} (id {template.id}): playbook {template.playbook_id}")
    out.print(f"  selector: {template.selector}", highlight=False)
    out.print(
        f"  forks {template.forks}, batch {template.batch_size or 'all'}, "
        f"max_fail_percentage {template.max_fail_percentage}, check {template.check}, "
        f"diff {template.diff}, verbosity {template.verbosity}"
    )
    for prompt in template.prompts or ():
        required = " (required)" if prompt.get("required") else ""
        out.print(f"  prompt {prompt['name']}: {prompt['type']}{required}", highlight=False)


@templates_cli.command("launch")
def launch_template(
    name: Annotated[str, typer.Argument(help="Name or id.")],
    prompt: PromptOption = None,
    extra: ExtraVarsOption = None,
    limit: LimitOption = None,
    check: Annotated[bool, typer.Option("--check", help="Dry run.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Show changes.")] = False,
    verbose: Annotated[int, typer.Option("-v", count=True, help="More output (-vvvv).")] = 0,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Print each host's result.")
    ] = False,
    user: Annotated[str, typer.Option(help="The user the run is for.")] = "admin",
    override_reason: OverrideReasonOption = None,
) -> None:
    """Run a template. With the embedded backend the run's batches run in this command;
    exit 1 unless the run succeeded."""
    settings = load_settings()
    install_keys(settings)
    values = dict(pair(each) for each in prompt or ())
    body = parse(
        TemplateLaunchRequest,
        {
            "prompts": values or None,
            "extra_vars": extra_vars_from_options(extra or []),
            "check": check or None,
            "diff": diff or None,
            "verbosity": verbose or None,
            "limit_host_ids": host_ids(limit) if limit else None,
            "override_reason": override_reason,
        },
    )

    async def launch(engine: AsyncEngine) -> Run:
        async with unit_of_work(session_factory(engine)) as session:
            ctx = cli_context(session, settings)
            template = await service.by_reference(ctx, name)
            person = await users.by_username(ctx, user)
            return await runs.launch_template(
                ctx,
                template.id,
                body,
                from_text=True,
                started_by=person.id,
                override_reason=body.override_reason,
            )

    launched(settings, launch, follow)


def pair(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise typer.BadParameter(f"expected NAME=VALUE, got {text!r}")
    return key.strip(), value


def host_ids(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected host ids separated by commas, got {text!r}") from None
