"""Writing and checking the audit trail. ``record`` joins the caller's transaction: if the
audit row cannot be written (or signed: no audit key), the change it describes does not
happen either.

Rows join the chain as their transaction commits, all at once: the chain head is locked
only for those few statements, not from a transaction's first change to its end, so
writers serialize on the head for a moment each (fleet launches and schedule fires
commit many rows apiece). A row's timestamp is that commit: in chain order the times
never go back. A row recorded inside a savepoint that rolls back is dropped with it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, event, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.attributes import set_committed_value

from opsledger.audit import repository
from opsledger.audit.chain import Break, Walk, compute_hash, seal
from opsledger.audit.keys import AuditKey, AuditKeys
from opsledger.audit.models import AuditChain, AuditLog
from opsledger.audit.snapshots import snapshot, unloaded_columns
from opsledger.config import Settings
from opsledger.db.base import utcnow
from opsledger.db.types import identical
from opsledger.kit.metrics import AUDIT_ROWS
from opsledger.kit.pagination import Rows
from opsledger.security.context import Ctx

Snapshot = dict[str, Any]


async def capture(session: AsyncSession, row: object) -> Snapshot:
    """The row as the audit trail shows it, loading whatever a flush left expired."""
    missing = unloaded_columns(row)
    if missing and inspect(row).persistent:
        await session.refresh(row, attribute_names=missing)
    return snapshot(row)


def inserted_as_null(row: object) -> list[str]:
    """The columns of a row about to be inserted that will hold NULL: never set, nullable,
    without a default of either kind. The ORM leaves them unloaded after the insert. Only
    the table's own columns: an attribute mapped to an expression (``column_property``)
    is read back as before."""
    state = inspect(row)
    table = state.mapper.local_table
    return [
        attribute.key
        for attribute in state.mapper.column_attrs
        for column in attribute.columns[:1]
        if isinstance(column, Column)
        and column.table is table
        and attribute.key not in state.dict
        and column.nullable
        and not column.primary_key
        and column.default is None
        and column.server_default is None
        and column.computed is None
    ]


async def load_unloaded(
    session: AsyncSession, rows: Sequence[Any], nulls: Sequence[list[str]]
) -> None:
    """Read what a flush left unloaded of these rows (of one model, just inserted) in one
    statement, so that ``capture`` finds them loaded. ``nulls`` (``inserted_as_null`` of
    each row, taken before the flush) are known without reading: a create whose other
    columns came back with the insert reads nothing."""
    for row, names in zip(rows, nulls, strict=True):
        loaded = inspect(row).dict
        for name in names:
            if name not in loaded:  # not set by the flush either
                set_committed_value(row, name, None)
    missing = [row for row in rows if unloaded_columns(row)]
    if missing:
        model = type(missing[0])
        (await session.scalars(select(model).where(model.id.in_([r.id for r in missing])))).all()


def record(
    ctx: Ctx,
    action: str,
    resource_type: str,
    resource_id: int | None,
    *,
    before: Snapshot | None = None,
    after: Snapshot | None = None,
    user_name: str | None = None,
    user_id: int | None = None,
) -> None:
    """Add one row for ``action`` to the caller's transaction; it joins the chain when
    the transaction commits.

    ``user_name``/``user_id`` override the actor for events without one (a failed login
    names the username that was tried)."""
    actor = ctx.actor
    row = AuditLog(
        user_id=user_id if actor is None else actor.id,
        user_name=_clip(user_name if actor is None else actor.username, 80),
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        before=before,
        after=after,
        request_id=ctx.request.request_id,
        ip_address=_clip(ctx.request.ip_address, 45),
        user_agent=_clip(ctx.request.user_agent, 255),
    )
    pending = ctx.session.info.setdefault(PENDING, [])
    pending.append(_Pending(row, signing_key(ctx.settings)))


PENDING = "opsledger.audit.pending"
SAVEPOINTS = "opsledger.audit.savepoints"


@dataclass(frozen=True)
class _Pending:
    row: AuditLog
    key: AuditKey


@event.listens_for(Session, "before_commit")
def _chain_pending(session: Session) -> None:
    """Append the transaction's rows to the chain, under its lock, as it commits."""
    if session.in_nested_transaction():  # a savepoint's release: the rows wait for the end
        return
    pending: list[_Pending] = session.info.pop(PENDING, [])
    if not pending:
        return
    head = repository.lock_chain(session)
    moment, prev_hash = utcnow(), head.head_hash
    for entry in pending:
        entry.row.timestamp, entry.row.prev_hash = moment, prev_hash
        entry.row.key_id = entry.key.key_id
        entry.row.hash = prev_hash = compute_hash(prev_hash, entry.row, entry.key)
    last = pending[-1]
    anchor = head.anchor_hash
    repository.append(
        session,
        [entry.row for entry in pending],
        lambda row_id: seal(last.key, anchor, row_id, last.row.hash),
    )
    AUDIT_ROWS.inc(len(pending))


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        marks = session.info.setdefault(SAVEPOINTS, {})
        marks[transaction] = len(session.info.get(PENDING, []))


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """The rows recorded inside a savepoint that rolled back did not happen."""
    mark = session.info.get(SAVEPOINTS, {}).get(previous_transaction)
    if mark is not None:
        del session.info.get(PENDING, [])[mark:]


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    session.info.get(SAVEPOINTS, {}).pop(transaction, None)
    if transaction.parent is None:  # rolled back or failed to commit: none of it happened
        session.info.pop(PENDING, None)


def signing_key(settings: Settings) -> AuditKey:
    """The key new rows are signed with; KeyRingError when this process has none."""
    return AuditKeys.configured(settings).signing


async def created(ctx: Ctx, resource_type: str, row: Any) -> None:
    """Record the creation of a flushed row, with its full (masked) snapshot."""
    record(ctx, "create", resource_type, row.id, after=await capture(ctx.session, row))


async def changed(ctx: Ctx, action: str, resource_type: str, row: Any, before: Snapshot) -> None:
    """Record a change of a row captured as ``before``; nothing when nothing changed."""
    after = await capture(ctx.session, row)
    if not identical(after, before):
        record(ctx, action, resource_type, row.id, before=before, after=after)


def _clip(value: str | None, length: int) -> str | None:
    return None if value is None else value[:length]


@dataclass(frozen=True)
class KeyUse:
    key_id: str
    rows: int
    # Whether this key signs the rows written now.
    signing: bool


@dataclass(frozen=True)
class ExpectedHead:
    """A head an earlier verification reported, kept outside the database (a log, the
    monitoring): the one thing that tells a chain rolled back to an earlier state, which
    the database alone cannot. ``hash_prefix`` (lowercase hex) also tells a chain rolled
    back and written on from there, whose rows may reuse the ids."""

    row_id: int
    hash_prefix: str | None = None


@dataclass(frozen=True)
class Verification:
    """What a walk of the chain checked: ``rows`` verified (before ``broken``, if any), of
    which ``unkeyed_rows`` were written before the chain was keyed and the rest were
    signed by ``keys``, listed with the signing key first even when it signed none yet.
    ``head_id`` and ``head_hash`` are its last row when intact (None when broken or empty)."""

    rows: int
    broken: Break | None
    unkeyed_rows: int
    keys: list[KeyUse]
    head_id: int | None = None
    head_hash: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None


async def verify(
    session: AsyncSession,
    settings: Settings,
    progress: Callable[[int], None] | None = None,
    expected: ExpectedHead | None = None,
) -> Verification:
    """Walk the chain from its anchor with this process's keys; the first row that does
    not fit is named. With ``expected``, a chain that no longer reaches that head, or
    holds another row there, is broken too."""
    keys = AuditKeys.configured(settings)
    head = await repository.chain(session)
    walk = Walk(keys, head.anchor_hash, head.legacy_head_id)
    broken = None
    first_id = expected_hash = None
    async for row in repository.in_order(session):
        broken = walk.check(row)
        if broken is not None:
            break
        first_id = row.id if first_id is None else first_id
        if expected is not None and row.id == expected.row_id:
            expected_hash = row.hash
        if progress is not None:
            progress(1)
    if broken is None and head.head_hash != walk.expected:
        broken = Break(head.head_id, "the chain head does not match the last row: rows are missing")
    if broken is None and (walk.signed.total() or head.state_seal is not None):
        broken = _unsealed(keys, head)
    if broken is None and walk.unkeyed and not walk.signed.total():
        # The first signed row's HMAC covers the last unkeyed row's hash: until one
        # exists, unkeyed rows could be a rewrite by anyone who can write the database.
        broken = Break(
            head.head_id,
            "no row is signed yet, and unkeyed rows alone cannot be told from a rewrite "
            "(any audited change signs the chain from here)",
        )
    if broken is None and expected is not None:
        broken = _short_of(expected, head, first_id, expected_hash)
    uses = [
        KeyUse(key_id, walk.signed[key_id], key_id == keys.signing.key_id)
        for key_id in keys.known
        if key_id in walk.signed or key_id == keys.signing.key_id
    ]
    if broken is not None or walk.rows == 0:
        return Verification(walk.rows, broken, walk.unkeyed, uses)
    return Verification(walk.rows, broken, walk.unkeyed, uses, head.head_id, head.head_hash)


def _short_of(
    expected: ExpectedHead, head: AuditChain, first_id: int | None, found_hash: str | None
) -> Break | None:
    """Whether an otherwise intact chain no longer holds the head an earlier verification
    saw. A row retention removed from the start cannot be compared, but the chain still
    reaches past it."""
    wanted = expected.row_id
    if head.head_id is None or head.head_id < wanted:
        return Break(
            wanted,
            f"the chain ends at row {head.head_id or 'none'}, before this row, which an "
            "earlier verification saw: it was rolled back to an earlier state",
        )
    if found_hash is None and (first_id is None or first_id > wanted):
        return None
    if found_hash is None:
        return Break(
            wanted,
            "an earlier verification saw this row, and the chain no longer holds it: "
            "it was rolled back and written on from an earlier state",
        )
    if expected.hash_prefix is not None and not found_hash.startswith(expected.hash_prefix):
        return Break(
            wanted,
            f"its hash begins {found_hash[: len(expected.hash_prefix)]}, not "
            f"{expected.hash_prefix} as an earlier verification saw: the chain was rolled "
            "back and written on from an earlier state",
        )
    return None


def _unsealed(keys: AuditKeys, head: AuditChain) -> Break | None:
    """Whether the chain's state (its start and end) is sealed by a key of this process:
    rows cut from either end outside retention leave it unsealed, unless an earlier state
    and its seal are put back whole (a rollback: ``ExpectedHead``)."""
    key_id, _, _ = (head.state_seal or "").partition(":")
    key = keys.known.get(key_id)
    if key is None:
        return Break(head.head_id, "the chain's start and end are not sealed by a known key")
    if seal(key, head.anchor_hash, head.head_id, head.head_hash) != head.state_seal:
        return Break(
            head.head_id,
            "the chain's start or end was moved: rows were removed outside retention",
        )
    return None


async def total(session: AsyncSession) -> int:
    return await repository.count(session)


async def page(session: AsyncSession, *, limit: int, **filters: Any) -> Rows[AuditLog]:
    return await repository.page(session, limit=limit, **filters)


async def purge_before(session: AsyncSession, cutoff: datetime, limit: int, key: AuditKey) -> int:
    """Remove up to ``limit`` of the oldest rows older than ``cutoff`` (retention only),
    and move the chain's anchor to the oldest row kept, so verification still passes."""
    await session.run_sync(repository.lock_chain)
    ids = await repository.expired_prefix(session, cutoff, limit)
    if not ids:
        return 0
    removed = await repository.purge(session, ids, utcnow())
    await reanchor(session, key)
    return removed


async def first_kept(session: AsyncSession, cutoff: datetime) -> int | None:
    """The id from which on retention keeps every row (None: no row is that new), with
    the chain locked until the transaction ends: only rows before it may leave, so what
    stays is one unbroken stretch of the chain."""
    await session.run_sync(repository.lock_chain)
    return await repository.first_kept(session, cutoff)


async def reanchor(session: AsyncSession, key: AuditKey) -> None:
    """After rows left the start of the chain (in the caller's transaction, which holds
    the chain lock): verification now starts at the oldest row kept, sealed with ``key``."""
    head = await repository.chain(session)
    remaining, oldest_prev = await repository.oldest_prev_hash(session)
    head.anchor_hash = oldest_prev if remaining else head.head_hash
    head.state_seal = seal(key, head.anchor_hash, head.head_id, head.head_hash)
    await session.flush()


async def count_expired(session: AsyncSession, cutoff: datetime) -> int:
    return await repository.count_expired(session, cutoff)
