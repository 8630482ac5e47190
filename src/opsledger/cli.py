"""The ``opsledger`` command. Each command's module is imported only when that command runs,
so ``opsledger --help`` and ``--version`` do not pay for the web app, the ORM or Ansible."""

from __future__ import annotations

import logging
import sys
from importlib import import_module
from typing import Annotated

import typer

# (name, "module:attribute" of a Typer app or a command function, the line --help shows)
COMMANDS = (
    ("up", "opsledger.serve:up", "Set up and serve: secrets, schema, host roles, first admin."),
    ("serve", "opsledger.serve:serve", "Serve the API on an already migrated database."),
    ("worker", "opsledger.serve:worker", "Run jobs from the Celery queue until stopped."),
    ("seed", "opsledger.serve:seed", "Create the default host roles that are missing."),
    ("db", "opsledger.migrations.cli:db_cli", "Schema migrations."),
    ("users", "opsledger.users.cli:users_cli", "User accounts."),
    ("import", "opsledger.users.cli:import_cli", "Bringing records in from other systems."),
    ("keys", "opsledger.ops.cli:keys_cli", "Field-encryption keys."),
    ("retention", "opsledger.ops.cli:retention_cli", "Dropping what is past retention."),
    (
        "partitions",
        "opsledger.ops.cli:partitions_cli",
        "job_logs' and audit_logs' monthly partitions (PostgreSQL).",
    ),
    ("audit", "opsledger.audit.cli:audit_cli", "The audit trail."),
    ("hosts", "opsledger.hosts.cli:hosts_cli", "The host inventory."),
    ("jobs", "opsledger.jobs.cli:jobs_cli", "Jobs and their output."),
    ("templates", "opsledger.templates.cli:templates_cli", "Job templates, and launching them."),
    ("runs", "opsledger.runs.cli:runs_cli", "Runs across many hosts: results, cancel, relaunch."),
    ("schedules", "opsledger.schedules.cli:schedules_cli", "Templates launched on a schedule."),
    (
        "freeze-windows",
        "opsledger.freeze_windows.cli:freeze_windows_cli",
        "Times no launch starts on the hosts they hold.",
    ),
    ("triggers", "opsledger.triggers.cli:triggers_cli", "Signed webhooks that launch templates."),
    (
        "notify",
        "opsledger.notifications.cli:notify_cli",
        "Notification channels, rules and deliveries.",
    ),
    ("stats", "opsledger.stats.cli:show_stats", "Hosts by status and role, jobs, tickets, alerts."),
    ("backup", "opsledger.ops.cli:backup_command", "Write every table to one archive."),
    ("restore", "opsledger.ops.cli:restore_command", "Load an archive into an empty database."),
)


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version  # only this flag needs it

        typer.echo(f"opsledger {version('opsledger')}")
        raise typer.Exit()


def root(
    _version_flag: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """opsledger: the system of record and control plane for infrastructure automation."""


def _listed_only() -> None:
    """Never runs: ``build`` puts the real command in its place when it is asked for."""


def build(wanted: str | None) -> typer.Typer:
    """The command tree with only ``wanted`` loaded; the others are listed by name and
    summary alone, which is all ``--help`` needs."""
    # Plain help: rich's (markdown, syntax highlighting) would triple the start-up time.
    cli = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None)
    cli.callback()(root)
    for name, target, summary in COMMANDS:
        if name != wanted:
            cli.command(name, help=summary)(_listed_only)
            continue
        import_module("opsledger.models")  # every mapper registered before any is used
        module, attribute = target.split(":")
        found = getattr(import_module(module), attribute)
        if isinstance(found, typer.Typer):
            cli.add_typer(found, name=name, help=summary)
        else:
            cli.command(name)(found)
    return cli


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The root takes only flags, so the first other word names the command.
    wanted = next((word for word in sys.argv[1:] if not word.startswith("-")), None)
    build(wanted)()
