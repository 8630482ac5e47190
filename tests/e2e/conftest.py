"""A migrated SQLite working directory for commands run the way a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.e2e.cli import opsledger


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / ".env").write_text(f"OPSLEDGER_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n")
    assert opsledger("db", "upgrade", cwd=tmp_path).returncode == 0
    return tmp_path
