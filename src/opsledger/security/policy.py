"""Who may do what: one table of role by action, enforced by one dependency on every route."""

from __future__ import annotations

from opsledger.users.models import UserRole

# Every domain an operator works with day to day; viewers may read them all.
OPERATIONAL = (
    "hosts",
    "host_roles",
    "playbooks",
    "jobs",
    "tickets",
    "deployments",
    "alerts",
    "infrastructure",
    "applications",
    "templates",
    "schedules",
    "triggers",
)

# A playbook is code that runs on the controller: only admins register or change one.
# Operators launch what admins registered.
CODE = frozenset({"playbooks:write"})

VIEWER = frozenset(
    {f"{domain}:read" for domain in OPERATIONAL}
    | {"stats:read", "self", "api_keys:manage", "freeze_windows:read"}
)
OPERATOR = (
    VIEWER | ({f"{domain}:write" for domain in OPERATIONAL} - CODE) | {"jobs:run", "secrets:manage"}
)
# Who may act, who holds secrets, and who reads the trail.
ADMINISTRATION = frozenset(
    {
        "users:read",
        "users:write",
        "credentials:read",
        "credentials:write",
        "audit:read",
        # The whole database in one file (hashes, ciphertext, the trail): admins only.
        "system:backup",
        "hosts:purge",
        # Whether launches stop: an admin's call (an admin also overrides one, audited).
        "freeze_windows:write",
        # Channels hold signing secrets and reach outside: admins only.
        "notifications:read",
        "notifications:write",
    }
)
ADMIN = OPERATOR | CODE | ADMINISTRATION

POLICY: dict[UserRole, frozenset[str]] = {
    UserRole.viewer: VIEWER,
    UserRole.operator: frozenset(OPERATOR),
    UserRole.admin: frozenset(ADMIN),
}

ACTIONS = frozenset(ADMIN)


def allows(role: UserRole, action: str, scopes: frozenset[str] | None = None) -> bool:
    """The role must allow the action; an API key with scopes narrows it further."""
    if action not in POLICY[role]:
        return False
    return scopes is None or action in scopes
