"""Playbook files on disk: confined to the playbook root, hashed with SHA-256. Parsing a
MiB of YAML takes seconds, so every check runs in a worker thread, off the event loop."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import secrets
from contextlib import suppress
from pathlib import Path, PurePosixPath

from opsledger.kit import yaml_documents
from opsledger.kit.errors import ValidationFailed
from opsledger.playbooks.schemas import MAX_PLAYBOOK_BYTES

log = logging.getLogger(__name__)

# An upload's file is named after the first SLUG_CHARS characters of its playbook's name and
# a random part: it fits any file system's 255 bytes whatever the name, and no file left by
# an upload that crashed before committing can block the name later.
SLUG_CHARS = 100


def confine(root: Path, requested: str) -> Path:
    """The real path of ``requested`` (relative to the root, or absolute), refused unless
    it is a file inside the root: no ``..``, no symlink pointing out."""
    base = root.resolve()
    candidate = Path(requested)
    resolved = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if not resolved.is_relative_to(base):
        raise ValidationFailed("file_path must be inside the playbook root")
    if not resolved.is_file():
        raise ValidationFailed("file_path does not name a file under the playbook root")
    return resolved


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def check_playbook(content: bytes) -> None:
    if len(content) > MAX_PLAYBOOK_BYTES:
        raise ValidationFailed(f"a playbook may not exceed {MAX_PLAYBOOK_BYTES} bytes")
    try:
        plays = yaml_documents.load(content)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
    if not isinstance(plays, list) or not plays or not all(isinstance(p, dict) for p in plays):
        raise ValidationFailed("a playbook is a YAML list of plays")


async def read_registered(root: Path, requested: str) -> tuple[Path, str]:
    """Confine, read, check and hash a file that is already under the root."""

    def work() -> tuple[Path, str]:
        path = confine(root, requested)
        content = path.read_bytes()
        check_playbook(content)
        return path, digest(content)

    return await asyncio.to_thread(work)


async def store_upload(root: Path, name: str, content: str) -> tuple[Path, str]:
    """Check and hash ``content`` and write it to a new file under the root, named after
    ``name``. The file is on disk when this returns, before the caller commits the row that
    names it: a crash in between leaves an unused file, never a row naming a missing one."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name)[:SLUG_CHARS].strip("-.") or "playbook"

    def work() -> tuple[Path, str]:
        data = content.encode()
        check_playbook(data)
        root.mkdir(parents=True, exist_ok=True)
        path = root.resolve() / f"{slug}-{secrets.token_hex(8)}.yml"
        _write_new(path, data)
        return path, digest(data)

    return await asyncio.to_thread(work)


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` (never replacing a file) holding ``data``, synced to disk with the
    directory entry that names it; a write that fails leaves no file."""
    with path.open("xb") as handle:
        try:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        except OSError:
            path.unlink()
            raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


async def current_content(path: str) -> bytes | None:
    """The file's bytes, or None when it is missing or unreadable."""

    def work() -> bytes | None:
        try:
            return Path(path).read_bytes()
        except OSError:
            return None

    return await asyncio.to_thread(work)


async def current_hash(path: str) -> str | None:
    content = await current_content(path)
    return None if content is None else digest(content)


def relative_to_root(root: Path, path: str) -> str | None:
    """Where ``path`` lies under the root, as a relative POSIX path, or None when it lies
    outside: what a backup records so that a restore can put the file under another root."""
    base, resolved = root.resolve(), Path(path).resolve()
    return resolved.relative_to(base).as_posix() if resolved.is_relative_to(base) else None


def plain_relative(path: str) -> bool:
    """Whether ``path``, read from an archive, is a relative POSIX path in normal form with
    no ``..``: joined to any directory, it stays inside it (symlinks aside)."""
    pure = PurePosixPath(path)
    return (
        str(pure) == path
        and path != "."
        and "\0" not in path
        and not pure.is_absolute()
        and ".." not in pure.parts
    )


def destination(root: Path, relative: str) -> Path | None:
    """Where a ``plain_relative`` path lands under the root, or None when a symlink
    already on the way would lead it out of the root."""
    base = root.resolve()
    target = base / relative
    return target if target.resolve().is_relative_to(base) else None


def holds(path: Path, file_hash: str) -> bool:
    """Whether ``path`` is a regular file (after symlinks) with exactly this content."""
    try:
        return path.is_file() and digest(path.read_bytes()) == file_hash
    except OSError:
        return False


def create(path: Path, content: bytes, made: list[Path]) -> None:
    """Write a new file and any missing directories above it, appending each to ``made``
    as it appears so that a caller can take them all back; never replace a file (nor
    follow a symlink where the file would be)."""
    for directory in reversed(path.parents):
        if not directory.exists():
            directory.mkdir()
            made.append(directory)
    with path.open("xb") as handle:
        made.append(path)
        handle.write(content)


def remove(made: list[Path]) -> None:
    """Take back the files and directories made for a change that did not commit (an
    upload, a restore), newest first. A directory something else has since put a file in
    stays; a file that cannot be removed is logged, and the failure that ended the change
    stays the one its caller sees."""
    for path in reversed(made):
        if path.is_dir():
            with suppress(OSError):
                path.rmdir()
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove %s, made for a change that was not kept: %s", path, exc)
