"""Playbook files on disk: confined to the playbook root, hashed with SHA-256."""

from __future__ import annotations

import asyncio
import hashlib
import re
from contextlib import suppress
from pathlib import Path, PurePosixPath

import yaml

from opsledger.kit.errors import Conflict, ValidationFailed
from opsledger.playbooks.schemas import MAX_PLAYBOOK_BYTES


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
        plays = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValidationFailed(f"not valid YAML{where}") from None
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
    """Write uploaded content to ``<root>/<name>.yml``; never overwrite a file."""
    data = content.encode()
    check_playbook(data)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "playbook"

    def work() -> Path:
        root.mkdir(parents=True, exist_ok=True)
        path = root.resolve() / f"{slug}.yml"
        try:
            with path.open("xb") as handle:
                handle.write(data)
        except FileExistsError:
            raise Conflict(f"{path.name} already exists under the playbook root") from None
        return path

    return await asyncio.to_thread(work), digest(data)


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
    """Take back what ``create`` made, newest first; a directory that something else has
    since put a file in stays."""
    for path in reversed(made):
        with suppress(OSError):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()
