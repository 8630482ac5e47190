"""``opsledger users …``: manage accounts from the server's shell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from opsledger.commands import fail, load_settings, out, parse, parse_json, run_in_context
from opsledger.security import passwords
from opsledger.security.context import Ctx
from opsledger.users import importing, service
from opsledger.users.importing import LegacyExport
from opsledger.users.models import UserRole
from opsledger.users.schemas import UserCreate, UserUpdate

users_cli = typer.Typer(no_args_is_help=True)

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from standard input instead of generating one."
    ),
]


def _password(from_stdin: bool) -> tuple[str, bool]:
    """The password to set, and whether it was generated (and so must be shown)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    return passwords.generate(), True


def _announce(username: str, password: str, generated: bool) -> None:
    if generated:
        out.print(
            f"password for [bold]{username}[/bold]: [bold]{password}[/bold] (shown once)",
            highlight=False,
        )


@users_cli.command("create")
def create(
    username: str,
    email: str,
    role: Annotated[UserRole, typer.Option(help="admin, operator or viewer.")] = UserRole.viewer,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a user; prints a generated password unless one comes on standard input."""
    settings = load_settings()
    password, generated = _password(password_stdin)
    body = parse(
        UserCreate, {"username": username, "email": email, "password": password, "role": role}
    )
    user = run_in_context(settings, lambda ctx: service.create(ctx, body))
    out.print(f"created user {user.username} (id {user.id}, {user.role})")
    _announce(user.username, password, generated)


@users_cli.command("list")
def list_users() -> None:
    """List every user."""
    settings = load_settings()
    rows = run_in_context(settings, service.all_users)
    table = Table("id", "username", "email", "role", "active", "last login")
    for user in rows:
        last_login = user.last_login.isoformat(timespec="seconds") if user.last_login else "-"
        table.add_row(
            str(user.id),
            user.username,
            user.email,
            user.role,
            "yes" if user.is_active else "no",
            last_login,
        )
    out.print(table)


def _update(username: str, changes: dict[str, object]) -> None:
    settings = load_settings()
    body = parse(UserUpdate, changes)

    async def apply(ctx: Ctx) -> None:
        user = await service.by_username(ctx, username)
        await service.update(ctx, user.id, body)

    run_in_context(settings, apply)


@users_cli.command("set-role")
def set_role(username: str, role: UserRole) -> None:
    """Change a user's role."""
    _update(username, {"role": role})
    out.print(f"{username} is now {role}")


@users_cli.command("deactivate")
def deactivate(username: str) -> None:
    """Block a user's login, tokens and API keys at once."""
    _update(username, {"is_active": False})
    out.print(f"{username} is deactivated")


@users_cli.command("unlock")
def unlock(username: str) -> None:
    """Clear a user's failed-login limit (in every server process, at once)."""
    settings = load_settings()

    async def apply(ctx: Ctx) -> None:
        user = await service.by_username(ctx, username)
        await service.unlock(ctx, user.id)

    run_in_context(settings, apply)
    out.print(f"{username} may sign in again (failed logins before now no longer count)")


@users_cli.command("reset-password")
def reset_password(username: str, password_stdin: PasswordStdin = False) -> None:
    """Set a new password (generated unless given on standard input); ends all sessions."""
    settings = load_settings()
    password, generated = _password(password_stdin)

    async def apply(ctx: Ctx) -> None:
        user = await service.by_username(ctx, username)
        await service.reset_password(ctx, user.id, password)

    run_in_context(settings, apply)
    out.print(f"password of {username} replaced; every token of theirs is revoked")
    _announce(username, password, generated)


import_cli = typer.Typer(no_args_is_help=True)


@import_cli.command("users")
def import_users(
    file: Annotated[Path, typer.Argument(help="JSON export of the legacy in-memory user store.")],
) -> None:
    """Import users and API-key hashes from the in-memory store's JSON export. Nothing
    is written unless the whole file is valid; users already here are left alone."""
    settings = load_settings()
    try:
        raw = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    export = parse_json(LegacyExport, raw)
    report = run_in_context(settings, lambda ctx: importing.import_users(ctx, export))
    out.print(
        f"imported {len(report.created)} users and {report.keys_created} API keys; "
        f"{len(report.already_present)} users were already here"
    )
    if report.needs_password_reset:
        out.print(
            "these users need a password reset (their hash is not bcrypt at cost 12+): "
            + ", ".join(report.needs_password_reset),
            highlight=False,
        )
