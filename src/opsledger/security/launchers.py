"""Who may make or change what launches runs later as someone (a schedule, a trigger): one
rule for both."""

from __future__ import annotations

from opsledger.kit.errors import Forbidden
from opsledger.security.context import Ctx
from opsledger.security.policy import allows


def may_launch(ctx: Ctx, what: str) -> None:
    """Making or changing one launches runs later: it takes what launching one now takes
    (an API key scoped to schedules or triggers alone may not)."""
    if not allows(ctx.user.role, "jobs:run", ctx.user.scopes):
        raise Forbidden(f"a {what} launches runs: making or changing one needs jobs:run")


def may_change(ctx: Ctx, what: str, owner_id: int) -> None:
    """Its runs are its owner's: only the owner or an admin changes what they launch, or
    when (anyone who may write it may still disable it)."""
    if not ctx.user.is_admin and ctx.user.id != owner_id:
        raise Forbidden(
            f"this {what} launches runs as its owner: only they or an admin may change it"
        )
