"""Audit rows. The database itself refuses to update or delete them (see the baseline
migration's triggers); the one exception is ``user_id`` going NULL when a user is deleted,
which is why the hash covers the copied ``user_name`` and not ``user_id``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opsledger.db.base import Base, BigIntegerKey, table_args, utcnow
from opsledger.db.types import JSONDocument


class AuditLog(Base):
    __tablename__ = "audit_logs"
    __table_args__ = table_args(
        Index(None, "user_id"),
        Index(None, "action"),
        Index(None, "resource_type"),
        Index(None, "timestamp"),
        Index(None, "resource_type", "resource_id"),
        Index(None, "action", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigIntegerKey, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    user_name: Mapped[str | None] = mapped_column(String(80), default=None)
    action: Mapped[str] = mapped_column(String(100))
    resource_type: Mapped[str] = mapped_column(String(50))
    resource_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # BEFORE and AFTER are reserved words in MySQL; the columns carry a suffix.
    before: Mapped[dict[str, Any] | None] = mapped_column(
        "before_state", JSONDocument, default=None
    )
    after: Mapped[dict[str, Any] | None] = mapped_column("after_state", JSONDocument, default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    ip_address: Mapped[str | None] = mapped_column(String(45), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(255), default=None)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)
    prev_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The fingerprint of the audit key the hash is an HMAC under (audit/keys.py); NULL
    # for rows written before the chain was keyed, whose hash is plain SHA-256.
    key_id: Mapped[str | None] = mapped_column(String(16), default=None)


class AuditChain(Base):
    """The chain's single head row. Writers lock it (``SELECT … FOR UPDATE``; on SQLite the
    write lock already serializes) before appending, so concurrent writers cannot fork the
    chain. ``anchor_hash`` is the ``prev_hash`` of the oldest row kept: verification
    starts there, so a retention purge leaves a verifiable chain. ``legacy_head_id`` is
    the last row written before the chain was keyed (set by migration 0011; NULL when
    there was none): only rows up to it may lack a key_id."""

    __tablename__ = "audit_chain"
    __table_args__ = table_args(CheckConstraint("id = 1", name="single_row"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    head_id: Mapped[int | None] = mapped_column(BigIntegerKey, default=None)
    head_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    anchor_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    legacy_head_id: Mapped[int | None] = mapped_column(BigIntegerKey, default=None)
    # chain.seal of (anchor, head) under the key of the last write or purge: moving
    # either without the key breaks it. NULL until the first keyed write.
    state_seal: Mapped[str | None] = mapped_column(String(90), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuditPurgeGuard(Base):
    """Empty except inside a retention purge's own transaction: the audit triggers let a
    DELETE through only while the deleting transaction holds a row here."""

    __tablename__ = "audit_purge_guard"
    __table_args__ = table_args()

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    started_at: Mapped[datetime]
