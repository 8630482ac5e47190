"""``opsledger hosts …``: the inventory from the server's shell."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from opsledger.commands import load_settings, out, parse, run_in_context
from opsledger.hosts import service
from opsledger.hosts.models import Host, HostStatus
from opsledger.hosts.schemas import HostCreate, HostQuery, HostTransition

hosts_cli = typer.Typer(no_args_is_help=True)


def _table(hosts: list[Host]) -> Table:
    table = Table("id", "hostname", "address", "environment", "status", "active")
    for host in hosts:
        table.add_row(
            str(host.id),
            host.hostname,
            f"{host.ip_address}:{host.ssh_port}",
            host.environment or "-",
            host.status,
            "yes" if host.is_active else "no",
        )
    return table


@hosts_cli.command("list")
def list_hosts(
    environment: Annotated[str | None, typer.Option(help="Only this environment.")] = None,
    status: Annotated[HostStatus | None, typer.Option(help="Only this status.")] = None,
    tag: Annotated[str | None, typer.Option(help="`key` or `key=value`.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """List hosts, oldest first."""
    settings = load_settings()
    query = parse(
        HostQuery, {"environment": environment, "status": status, "tag": tag, "limit": limit}
    )
    rows = run_in_context(
        settings, lambda ctx: service.page(ctx, query.filters(), query.tag, query.limit, None)
    )
    out.print(_table(rows.items))


@hosts_cli.command("add")
def add(
    hostname: str,
    ip_address: str,
    os_type: Annotated[str, typer.Option(help="e.g. debian, ubuntu, rhel.")] = "debian",
    environment: Annotated[str | None, typer.Option()] = None,
    ssh_user: Annotated[str, typer.Option()] = "root",
    ssh_port: Annotated[int, typer.Option()] = 22,
) -> None:
    """Register a host (status new)."""
    settings = load_settings()
    body = parse(
        HostCreate,
        {
            "hostname": hostname,
            "ip_address": ip_address,
            "os_type": os_type,
            "environment": environment,
            "ssh_user": ssh_user,
            "ssh_port": ssh_port,
        },
    )
    host = run_in_context(settings, lambda ctx: service.create(ctx, body))
    out.print(f"added host {host.hostname} (id {host.id})")


@hosts_cli.command("transition")
def transition(
    host_id: int,
    status: HostStatus,
    error_message: Annotated[str | None, typer.Option(help="Why, for `failed`.")] = None,
) -> None:
    """Move a host along its lifecycle (exit 1 if the move is not allowed)."""
    settings = load_settings()
    body = parse(HostTransition, {"status": status, "error_message": error_message})
    host = run_in_context(settings, lambda ctx: service.transition(ctx, host_id, body))
    out.print(f"host {host.hostname} is now {host.status}")
