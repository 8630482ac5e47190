"""Job templates over the API: CRUD with its audit rows, who may change them, the rules a
template's options and prompts keep, and which hosts its selector matches."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.hosts.models import HostStatus
from opsledger.models import AuditLog
from tests import factories as f
from tests.api import Person, audit_trail


async def make_playbook(engine: AsyncEngine, **fields: Any) -> int:
    async with unit_of_work(session_factory(engine)) as session:
        return int((await f.make_playbook(session, **fields)).id)


def template_body(playbook_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "name": f.unique("patch redis"),
        "playbook_id": playbook_id,
        "selector": {"environment": "production", "tags": ["tier=cache"]},
    } | fields


async def create_template(
    client: httpx.AsyncClient, person: Person, playbook_id: int, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/job-templates", json=template_body(playbook_id, **fields), headers=person.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_operator_creates_reads_changes_and_deletes_a_template_each_change_audited(
    client: httpx.AsyncClient, operator: Person, viewer: Person, engine: AsyncEngine
) -> None:
    playbook_id = await make_playbook(engine)
    body = template_body(
        playbook_id,
        description="Monthly patching",
        extra_vars={"reboot": False},
        check=True,
        diff=True,
        verbosity=2,
        job_tags=["packages", "restart"],
        skip_tags=["slow"],
        forks=20,
        timeout_seconds=1800,
        batch_size=5,
        max_fail_percentage=10,
        prompts=[{"name": "version", "type": "text", "required": True, "pattern": r"\d+\.\d+"}],
    )
    created = await client.post("/job-templates", json=body, headers=operator.headers)
    template = created.json()
    url = f"/job-templates/{template['id']}"

    assert created.status_code == 201, created.text
    assert {k: template[k] for k in body if k != "prompts"} == {
        k: v for k, v in body.items() if k != "prompts"
    } | {"selector": body["selector"] | {"host_ids": None, "host_role_id": None, "status": None}}
    assert template["prompts"][0]["name"] == "version"
    assert template["prompts"][0]["required"] is True
    assert await audit_trail(engine, created) == [("create", "job_template")]

    read = await client.get(url, headers=viewer.headers)
    listed = await client.get(
        "/job-templates", params={"name": body["name"]}, headers=viewer.headers
    )
    assert read.json() == template
    assert listed.json()["items"] == [template]

    changed = await client.patch(
        url, json={"forks": 10, "batch_size": None, "prompts": None}, headers=operator.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["forks"] == 10
    assert changed.json()["batch_size"] is None
    assert changed.json()["prompts"] == []
    assert changed.json()["verbosity"] == 2
    assert await audit_trail(engine, changed) == [("update", "job_template")]
    async with engine.connect() as connection:
        before, after = (
            await connection.execute(
                select(AuditLog.before, AuditLog.after).where(
                    AuditLog.request_id == changed.headers["x-request-id"]
                )
            )
        ).one()
    assert (before["forks"], after["forks"]) == (20, 10)
    assert (before["check"], after["check"]) == (True, True)

    deleted = await client.delete(url, headers=operator.headers)
    assert deleted.status_code == 204
    assert await audit_trail(engine, deleted) == [("delete", "job_template")]
    assert (await client.get(url, headers=viewer.headers)).status_code == 404


async def test_defaults_are_ansibles_and_run_on_every_selected_host_at_once(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    template = await create_template(
        client, operator, await make_playbook(engine), selector={}, prompts=[]
    )
    assert {
        key: template[key]
        for key in (
            "check",
            "diff",
            "verbosity",
            "forks",
            "timeout_seconds",
            "batch_size",
            "max_fail_percentage",
            "job_tags",
            "skip_tags",
            "extra_vars",
            "prompts",
        )
    } == {
        "check": False,
        "diff": False,
        "verbosity": 0,
        "forks": 5,
        "timeout_seconds": None,
        "batch_size": None,
        "max_fail_percentage": 0,
        "job_tags": None,
        "skip_tags": None,
        "extra_vars": None,
        "prompts": [],
    }


async def test_viewers_read_templates_and_their_preview_but_may_not_change_them(
    client: httpx.AsyncClient, operator: Person, viewer: Person, admin: Person, engine: AsyncEngine
) -> None:
    playbook_id = await make_playbook(engine)
    template = await create_template(client, operator, playbook_id)
    url = f"/job-templates/{template['id']}"

    assert (await client.get(url, headers=viewer.headers)).status_code == 200
    assert (await client.get(f"{url}/preview", headers=viewer.headers)).status_code == 200
    assert (await client.get("/job-templates", headers=viewer.headers)).status_code == 200
    refused = [
        await client.post(
            "/job-templates", json=template_body(playbook_id), headers=viewer.headers
        ),
        await client.patch(url, json={"forks": 2}, headers=viewer.headers),
        await client.delete(url, headers=viewer.headers),
    ]
    assert [answer.status_code for answer in refused] == [403, 403, 403]
    assert (await client.patch(url, json={"forks": 2}, headers=admin.headers)).status_code == 200
    assert (await client.get(url, headers=viewer.headers)).json()["forks"] == 2


async def test_a_template_name_is_taken_once(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    playbook_id = await make_playbook(engine)
    first = await create_template(client, operator, playbook_id)
    second = await create_template(client, operator, playbook_id)

    again = await client.post(
        "/job-templates",
        json=template_body(playbook_id, name=first["name"]),
        headers=operator.headers,
    )
    renamed = await client.patch(
        f"/job-templates/{second['id']}", json={"name": first["name"]}, headers=operator.headers
    )
    assert again.status_code == 409
    assert renamed.status_code == 409


BAD_OPTIONS = {
    "forks 0": ({"forks": 0}, ["body", "forks"]),
    "forks 51": ({"forks": 51}, ["body", "forks"]),
    "verbosity 5": ({"verbosity": 5}, ["body", "verbosity"]),
    "verbosity -1": ({"verbosity": -1}, ["body", "verbosity"]),
    "percentage 101": ({"max_fail_percentage": 101}, ["body", "max_fail_percentage"]),
    "percentage -1": ({"max_fail_percentage": -1}, ["body", "max_fail_percentage"]),
    "batch 0": ({"batch_size": 0}, ["body", "batch_size"]),
    "timeout 0": ({"timeout_seconds": 0}, ["body", "timeout_seconds"]),
    "check as text": ({"check": "true"}, ["body", "check"]),
    "ansible_ variable": (
        {"extra_vars": {"ansible_host": "10.0.0.1", "ok": 1}},
        ["body", "extra_vars"],
    ),
    "tag with comma": ({"job_tags": ["a,b"]}, ["body", "job_tags", 0]),
    "tag with space": ({"skip_tags": ["a b"]}, ["body", "skip_tags", 0]),
    "tag with dash first": ({"job_tags": ["-x"]}, ["body", "job_tags", 0]),
    "tag run and skipped": ({"job_tags": ["a"], "skip_tags": ["a"]}, ["body"]),
    "decommissioned selected": (
        {"selector": {"status": "decommissioned"}},
        ["body", "selector", "status"],
    ),
    "unknown selector field": ({"selector": {"group": "web"}}, ["body", "selector", "group"]),
    "tag without key": ({"selector": {"tags": ["=x"]}}, ["body", "selector", "tags", 0]),
    "no selector": ({"selector": None}, ["body", "selector"]),
    "server-managed id": ({"id": 7}, ["body", "id"]),
    "bad regex": (
        {"prompts": [{"name": "v", "type": "text", "pattern": "(unclosed"}]},
        ["body", "prompts", 0, "pattern"],
    ),
    "catastrophic regex": (
        {"prompts": [{"name": "v", "type": "text", "pattern": "(a+)+$"}]},
        ["body", "prompts", 0, "pattern"],
    ),
    "secret default": (
        {"prompts": [{"name": "token", "type": "secret", "default": "hunter2"}]},
        ["body", "prompts", 0],
    ),
    "ansible_ prompt": (
        {"prompts": [{"name": "ansible_user", "type": "text"}]},
        ["body", "prompts", 0, "name"],
    ),
    "prompt named twice": (
        {"prompts": [{"name": "v", "type": "text"}, {"name": "v", "type": "integer"}]},
        ["body", "prompts"],
    ),
    "default outside bounds": (
        {"prompts": [{"name": "n", "type": "integer", "min": 1, "max": 5, "default": 9}]},
        ["body", "prompts", 0],
    ),
    "choice without choices": (
        {"prompts": [{"name": "c", "type": "choice"}]},
        ["body", "prompts", 0],
    ),
    "unknown inventory source": (
        {"prompts": [{"name": "c", "type": "choice", "choices_from": "racks"}]},
        ["body", "prompts", 0, "choices_from"],
    ),
}


@pytest.mark.parametrize("case", BAD_OPTIONS)
async def test_bad_options_and_prompts_are_refused_where_they_were_written(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine, case: str
) -> None:
    fields, loc = BAD_OPTIONS[case]
    body = template_body(await make_playbook(engine), **fields)

    response = await client.post("/job-templates", json=body, headers=operator.headers)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert loc in [error["loc"] for error in response.json()["errors"]]
    listed = await client.get(
        "/job-templates", params={"name": body["name"]}, headers=operator.headers
    )
    assert listed.json()["items"] == []


async def test_references_that_do_not_exist_are_422_naming_the_field(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    playbook_id = await make_playbook(engine)
    inactive_id = await make_playbook(engine, is_active=False)
    async with unit_of_work(session_factory(engine)) as session:
        host_id = (await f.make_host(session)).id
        gone = await f.make_host(session)
        gone_id = gone.id
        await session.delete(gone)

    cases = [
        (("playbook_id",), {"playbook_id": 2_000_000_000}),
        (("playbook_id",), {"playbook_id": inactive_id}),
        (("selector", "host_role_id"), {"selector": {"host_role_id": 2_000_000_000}}),
        (("selector", "host_ids"), {"selector": {"host_ids": [host_id, gone_id]}}),
    ]
    for where, fields in cases:
        response = await client.post(
            "/job-templates", json=template_body(playbook_id) | fields, headers=operator.headers
        )
        assert response.status_code == 422, (where, response.text)
        assert response.json()["errors"][0]["loc"] == ["body", *where]
    accepted = await client.post(
        "/job-templates",
        json=template_body(playbook_id, selector={"host_ids": [host_id]}),
        headers=operator.headers,
    )
    assert accepted.status_code == 201


async def test_a_change_may_not_run_and_skip_the_same_tag(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    template = await create_template(
        client, operator, await make_playbook(engine), skip_tags=["slow"]
    )
    url = f"/job-templates/{template['id']}"
    clash = await client.patch(url, json={"job_tags": ["slow"]}, headers=operator.headers)
    nulled = await client.patch(url, json={"forks": None}, headers=operator.headers)
    assert clash.status_code == 422
    assert clash.json()["errors"][0]["loc"] == ["body", "skip_tags"]
    assert nulled.status_code == 422


async def test_a_playbook_named_by_a_template_cannot_be_deleted(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    from sqlalchemy import delete
    from sqlalchemy.exc import IntegrityError

    from opsledger.models import Playbook

    playbook_id = await make_playbook(engine)
    await create_template(client, operator, playbook_id)
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(delete(Playbook).where(Playbook.id == playbook_id))


async def selectable_hosts(engine: AsyncEngine) -> dict[str, Any]:
    """Hosts in an environment of their own: a host for each way a selector tells them
    apart, and two it never matches."""
    environment = f.unique("env")
    async with unit_of_work(session_factory(engine)) as session:
        role = await f.make_role(session)
        hosts = {
            "web": await f.make_host(
                session, environment=environment, tags={"tier": "web", "zone": "a"}
            ),
            "cache": await f.make_host(
                session,
                environment=environment,
                tags={"tier": "cache", "zone": "a", "weird.key": 'x"y'},
                host_role_id=role.id,
                status=HostStatus.deployed,
            ),
            "cache-b": await f.make_host(
                session,
                environment=environment,
                tags={"tier": "cache", "zone": "b", "replicas": 3},
                host_role_id=role.id,
                status=HostStatus.failed,
            ),
            "inactive": await f.make_host(
                session, environment=environment, tags={"tier": "cache"}, is_active=False
            ),
            "decommissioned": await f.make_host(
                session,
                environment=environment,
                tags={"tier": "cache"},
                host_role_id=role.id,
                status=HostStatus.decommissioned,
            ),
        }
        ids = {name: host.id for name, host in hosts.items()}
    return {"environment": environment, "role": role.id, "ids": ids}


async def test_the_preview_answers_the_active_hosts_matching_every_criterion(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    playbook_id = await make_playbook(engine)
    world = await selectable_hosts(engine)
    ids = world["ids"]
    environment = {"environment": world["environment"]}

    async def preview(**selector: Any) -> list[int]:
        template = await create_template(
            client, operator, playbook_id, selector=environment | selector
        )
        response = await client.get(
            f"/job-templates/{template['id']}/preview", headers=operator.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == len(body["items"])
        assert body["next_cursor"] is None
        return [host["id"] for host in body["items"]]

    assert await preview() == [ids["web"], ids["cache"], ids["cache-b"]]
    assert await preview(tags=["tier=cache"]) == [ids["cache"], ids["cache-b"]]
    assert await preview(tags=["tier=cache", "zone=a"]) == [ids["cache"]]
    assert await preview(tags=["replicas=3"]) == [ids["cache-b"]]
    assert await preview(tags=["weird.key"]) == [ids["cache"]]
    assert await preview(tags=['weird.key=x"y']) == [ids["cache"]]
    assert await preview(tags=["rack"]) == []
    assert await preview(host_role_id=world["role"]) == [ids["cache"], ids["cache-b"]]
    assert await preview(status="failed") == [ids["cache-b"]]
    assert await preview(status="new") == [ids["web"]]
    assert await preview(host_ids=[ids["web"], ids["inactive"], ids["decommissioned"]]) == [
        ids["web"]
    ]
    assert await preview(host_ids=[ids["cache-b"], ids["web"]], tags=["tier=cache"]) == [
        ids["cache-b"]
    ]


async def test_the_preview_pages_by_id_and_counts_every_match(
    client: httpx.AsyncClient, operator: Person, engine: AsyncEngine
) -> None:
    world = await selectable_hosts(engine)
    template = await create_template(
        client,
        operator,
        await make_playbook(engine),
        selector={"environment": world["environment"]},
    )
    url = f"/job-templates/{template['id']}/preview"

    first = (await client.get(url, params={"limit": 2}, headers=operator.headers)).json()
    rest = await client.get(
        url, params={"limit": 2, "after": first["next_cursor"]}, headers=operator.headers
    )

    assert first["total"] == 3
    assert [host["id"] for host in first["items"] + rest.json()["items"]] == [
        world["ids"]["web"],
        world["ids"]["cache"],
        world["ids"]["cache-b"],
    ]
    assert rest.json()["next_cursor"] is None
    assert set(first["items"][0]) == {
        "id",
        "hostname",
        "ip_address",
        "environment",
        "host_role_id",
        "status",
    }
    assert (
        await client.get("/job-templates/2000000000/preview", headers=operator.headers)
    ).status_code == 404
