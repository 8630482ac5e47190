"""Baseline: every table of DESIGN.md section 4, and the triggers that make audit_logs
append-only on each backend.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 05:43:07.343694
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import opsledger.db.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# audit_logs is append-only, enforced by the database so that not even a bug or a stray
# UPDATE in a console can rewrite history. The one change let through is user_id going
# NULL when its user is deleted (ON DELETE SET NULL); the hash chain covers the copied
# user_name instead, so that change leaves the chain intact. MySQL/MariaDB run no triggers
# for foreign-key actions, so there the plain triggers suffice; TRUNCATE cannot be trapped
# there and is left to privileges.
APPEND_ONLY = "audit_logs rows are append-only"
AUDIT_COLUMNS_BUT_USER_ID = (
    "id, user_name, action, resource_type, resource_id, before_state, after_state, "
    "request_id, ip_address, user_agent, timestamp, prev_hash, hash"
)


def create_audit_guards() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION audit_logs_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE' AND NEW.user_id IS NULL
                   AND (to_jsonb(NEW) - 'user_id') = (to_jsonb(OLD) - 'user_id') THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION '{APPEND_ONLY} (% refused)', TG_OP;
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs "
            "FOR EACH ROW EXECUTE FUNCTION audit_logs_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_append_only()"
        )
    elif dialect == "mysql":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_logs_no_{event.lower()} BEFORE {event} ON audit_logs "
                f"FOR EACH ROW SIGNAL SQLSTATE '45000' "
                f"SET MESSAGE_TEXT = '{APPEND_ONLY} ({event} refused)'"
            )
    else:
        op.execute(
            f"CREATE TRIGGER audit_logs_no_update BEFORE UPDATE OF {AUDIT_COLUMNS_BUT_USER_ID} "
            f"ON audit_logs BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY} (UPDATE refused)'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_logs_user_id_only_nulls BEFORE UPDATE OF user_id ON audit_logs "
            f"WHEN NEW.user_id IS NOT NULL "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY} (UPDATE refused)'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY} (DELETE refused)'); END"
        )


def drop_audit_guards() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER audit_logs_no_truncate ON audit_logs")
        op.execute("DROP TRIGGER audit_logs_append_only ON audit_logs")
        op.execute("DROP FUNCTION audit_logs_append_only()")
    elif dialect == "mysql":
        op.execute("DROP TRIGGER audit_logs_no_update")
        op.execute("DROP TRIGGER audit_logs_no_delete")
    else:
        for name in (
            "audit_logs_no_update",
            "audit_logs_user_id_only_nulls",
            "audit_logs_no_delete",
        ):
            op.execute(f"DROP TRIGGER {name}")


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("repo_url", sa.String(length=500), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("config", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("name", name=op.f("uq_applications_name")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "infrastructure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column("region", sa.String(length=50), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("config", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("secret_config", opsledger.db.types.EncryptedString(), nullable=True),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_infrastructure")),
        sa.UniqueConstraint("name", name=op.f("uq_infrastructure_name")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "playbooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("file_path", sa.String(length=500), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("tags", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("variables", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbooks")),
        sa.UniqueConstraint("name", name=op.f("uq_playbooks_name")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("email", sa.String(length=120), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "operator",
                "viewer",
                name="user_role",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("last_login", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(op.f("ix_users_role"), "users", ["role"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("expires_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_used_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(op.f("ix_api_keys_user_id"), "api_keys", ["user_id"])
    op.create_table(
        "audit_logs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("user_name", sa.String(length=80), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("resource_type", sa.String(length=50), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.Column("before_state", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("after_state", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.Column("timestamp", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_audit_logs_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_logs_hash")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(op.f("ix_audit_logs_action"), "audit_logs", ["action"])
    op.create_index(op.f("ix_audit_logs_action_timestamp"), "audit_logs", ["action", "timestamp"])
    op.create_index(op.f("ix_audit_logs_resource_type"), "audit_logs", ["resource_type"])
    op.create_index(
        op.f("ix_audit_logs_resource_type_resource_id"),
        "audit_logs",
        ["resource_type", "resource_id"],
    )
    op.create_index(op.f("ix_audit_logs_timestamp"), "audit_logs", ["timestamp"])
    op.create_index(op.f("ix_audit_logs_user_id"), "audit_logs", ["user_id"])
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("infrastructure_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "live_name",
            sa.String(length=100),
            sa.Computed("CASE WHEN deleted_at IS NULL THEN name END", persisted=True),
            nullable=True,
        ),
        sa.Column("image", sa.String(length=500), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "scheduled",
                "running",
                "stopped",
                "failed",
                "deleted",
                name="deployment_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("target_replicas", sa.Integer(), nullable=False),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("deleted_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_deployments_application_id_applications"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["infrastructure_id"],
            ["infrastructure.id"],
            name=op.f("fk_deployments_infrastructure_id_infrastructure"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_deployments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("user_id", "live_name", name=op.f("uq_deployments_user_id_live_name")),
        sa.UniqueConstraint("uuid", name=op.f("uq_deployments_uuid")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(op.f("ix_deployments_application_id"), "deployments", ["application_id"])
    op.create_index(op.f("ix_deployments_infrastructure_id"), "deployments", ["infrastructure_id"])
    op.create_index(op.f("ix_deployments_status"), "deployments", ["status"])
    op.create_index(
        op.f("ix_deployments_user_id_deleted_at"), "deployments", ["user_id", "deleted_at"]
    )
    op.create_table(
        "host_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("default_playbook_id", sa.Integer(), nullable=True),
        sa.Column("variables", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["default_playbook_id"],
            ["playbooks.id"],
            name=op.f("fk_host_roles_default_playbook_id_playbooks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_roles")),
        sa.UniqueConstraint("name", name=op.f("uq_host_roles_name")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_host_roles_default_playbook_id"), "host_roles", ["default_playbook_id"]
    )
    op.create_table(
        "secrets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("service_name", sa.String(length=100), nullable=False),
        sa.Column("key_name", sa.String(length=100), nullable=False),
        sa.Column("value", opsledger.db.types.EncryptedString(), nullable=False),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_secrets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secrets")),
        sa.UniqueConstraint(
            "user_id",
            "service_name",
            "key_name",
            name=op.f("uq_secrets_user_id_service_name_key_name"),
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "deployment_resources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("cpu_cores", sa.Float(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("gpu_units", sa.Integer(), nullable=False),
        sa.Column("storage_gb", sa.Integer(), nullable=False),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "cpu_cores >= 0.5 AND cpu_cores <= 32",
            name=op.f("ck_deployment_resources_cpu_cores_range"),
        ),
        sa.CheckConstraint(
            "gpu_units >= 0 AND gpu_units <= 8",
            name=op.f("ck_deployment_resources_gpu_units_range"),
        ),
        sa.CheckConstraint(
            "memory_mb >= 512 AND memory_mb <= 65536",
            name=op.f("ck_deployment_resources_memory_mb_range"),
        ),
        sa.CheckConstraint(
            "storage_gb >= 1 AND storage_gb <= 1000",
            name=op.f("ck_deployment_resources_storage_gb_range"),
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_resources_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_resources")),
        sa.UniqueConstraint("deployment_id", name=op.f("uq_deployment_resources_deployment_id")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "deployment_status_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "pending",
                "scheduled",
                "running",
                "stopped",
                "failed",
                "deleted",
                name="from_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "pending",
                "scheduled",
                "running",
                "stopped",
                "failed",
                "deleted",
                name="to_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("changed_by", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changed_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["changed_by"],
            ["users.id"],
            name=op.f("fk_deployment_status_history_changed_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_status_history_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_status_history")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_deployment_status_history_changed_by"), "deployment_status_history", ["changed_by"]
    )
    op.create_index(
        op.f("ix_deployment_status_history_deployment_id_changed_at"),
        "deployment_status_history",
        ["deployment_id", "changed_at"],
    )
    op.create_table(
        "hosts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=False),
        sa.Column("os_type", sa.String(length=50), nullable=False),
        sa.Column("os_version", sa.String(length=50), nullable=True),
        sa.Column("ssh_port", sa.Integer(), nullable=False),
        sa.Column("ssh_user", sa.String(length=50), nullable=False),
        sa.Column("ssh_key_path", sa.String(length=500), nullable=True),
        sa.Column("tags", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("environment", sa.String(length=50), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("host_role_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "new",
                "provisioning",
                "deployed",
                "failed",
                "decommissioned",
                name="host_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("status_changed_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("provisioned_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_role_id"],
            ["host_roles.id"],
            name=op.f("fk_hosts_host_role_id_host_roles"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hosts")),
        sa.UniqueConstraint("hostname", name=op.f("uq_hosts_hostname")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(op.f("ix_hosts_host_role_id"), "hosts", ["host_role_id"])
    op.create_index(op.f("ix_hosts_ip_address"), "hosts", ["ip_address"])
    op.create_index(op.f("ix_hosts_is_active_environment"), "hosts", ["is_active", "environment"])
    op.create_index(op.f("ix_hosts_status"), "hosts", ["status"])
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "ssh_key",
                "password",
                "token",
                name="credential_type",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("value", opsledger.db.types.EncryptedString(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("rotated_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_credentials_host_id_hosts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_credentials_host_id_type_is_active"),
        "credentials",
        ["host_id", "type", "is_active"],
    )
    op.create_table(
        "deployment_replicas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.Column("container_id", sa.String(length=255), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "starting",
                "running",
                "stopping",
                "stopped",
                "failed",
                name="replica_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("started_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("stopped_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_replicas_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["host_id"],
            ["hosts.id"],
            name=op.f("fk_deployment_replicas_host_id_hosts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_replicas")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_deployment_replicas_deployment_id_status"),
        "deployment_replicas",
        ["deployment_id", "status"],
    )
    op.create_index(op.f("ix_deployment_replicas_host_id"), "deployment_replicas", ["host_id"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("playbook_id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "running",
                "success",
                "failed",
                "cancelled",
                name="job_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("celery_task_id", sa.String(length=255), nullable=True),
        sa.Column("extra_vars", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("started_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("completed_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_jobs_host_id_hosts"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["playbook_id"],
            ["playbooks.id"],
            name=op.f("fk_jobs_playbook_id_playbooks"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_jobs_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("uuid", name=op.f("uq_jobs_uuid")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(op.f("ix_jobs_celery_task_id"), "jobs", ["celery_task_id"])
    op.create_index(op.f("ix_jobs_created_at"), "jobs", ["created_at"])
    op.create_index(op.f("ix_jobs_host_id"), "jobs", ["host_id"])
    op.create_index(op.f("ix_jobs_playbook_id"), "jobs", ["playbook_id"])
    op.create_index(op.f("ix_jobs_status"), "jobs", ["status"])
    op.create_index(op.f("ix_jobs_status_created_at"), "jobs", ["status", "created_at"])
    op.create_index(op.f("ix_jobs_user_id"), "jobs", ["user_id"])
    op.create_index(op.f("ix_jobs_user_id_status"), "jobs", ["user_id", "status"])
    op.create_table(
        "monitoring_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column(
            "severity",
            sa.Enum(
                "info",
                "warning",
                "critical",
                name="alert_severity",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("labels", opsledger.db.types.JSONDocument(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "firing",
                "acknowledged",
                "resolved",
                name="alert_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.Column("deployment_id", sa.Integer(), nullable=True),
        sa.Column("starts_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.Column("resolved_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["users.id"],
            name=op.f("fk_monitoring_alerts_acknowledged_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_monitoring_alerts_deployment_id_deployments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["host_id"],
            ["hosts.id"],
            name=op.f("fk_monitoring_alerts_host_id_hosts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_alerts")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_monitoring_alerts_acknowledged_by"), "monitoring_alerts", ["acknowledged_by"]
    )
    op.create_index(
        op.f("ix_monitoring_alerts_deployment_id"), "monitoring_alerts", ["deployment_id"]
    )
    op.create_index(op.f("ix_monitoring_alerts_fingerprint"), "monitoring_alerts", ["fingerprint"])
    op.create_index(op.f("ix_monitoring_alerts_host_id"), "monitoring_alerts", ["host_id"])
    op.create_index(
        op.f("ix_monitoring_alerts_status_severity"), "monitoring_alerts", ["status", "severity"]
    )
    op.create_table(
        "job_logs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("job_created", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("content", opsledger.db.types.LongText(), nullable=False),
        sa.Column("log_level", sa.String(length=20), nullable=True),
        sa.Column("timestamp", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_logs_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_logs")),
        sa.UniqueConstraint(
            "job_id",
            "line_number",
            "job_created",
            name=op.f("uq_job_logs_job_id_line_number_job_created"),
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(op.f("ix_job_logs_timestamp"), "job_logs", ["timestamp"])
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "in_progress",
                "resolved",
                "closed",
                name="ticket_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "priority",
            sa.Enum(
                "low",
                "medium",
                "high",
                "critical",
                name="ticket_priority",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("due_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("resolved_at", opsledger.db.types.UTCDateTime(), nullable=True),
        sa.Column("updated_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", opsledger.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_tickets_created_by_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_tickets_job_id_jobs"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("uuid", name=op.f("uq_tickets_uuid")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(op.f("ix_tickets_created_by"), "tickets", ["created_by"])
    op.create_index(op.f("ix_tickets_due_at"), "tickets", ["due_at"])
    op.create_index(op.f("ix_tickets_job_id"), "tickets", ["job_id"])
    op.create_index(op.f("ix_tickets_status"), "tickets", ["status"])
    op.create_index(op.f("ix_tickets_status_priority"), "tickets", ["status", "priority"])
    create_audit_guards()


def downgrade() -> None:
    drop_audit_guards()
    op.drop_table("tickets")
    op.drop_table("job_logs")
    op.drop_table("monitoring_alerts")
    op.drop_table("jobs")
    op.drop_table("deployment_replicas")
    op.drop_table("credentials")
    op.drop_table("hosts")
    op.drop_table("deployment_status_history")
    op.drop_table("deployment_resources")
    op.drop_table("secrets")
    op.drop_table("host_roles")
    op.drop_table("deployments")
    op.drop_table("audit_logs")
    op.drop_table("api_keys")
    op.drop_table("users")
    op.drop_table("playbooks")
    op.drop_table("infrastructure")
    op.drop_table("applications")
