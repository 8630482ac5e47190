"""One row of everything a console form acts on, and the forms themselves as the app
routes them: for tests that try every form."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.db.session import session_factory, unit_of_work
from opsledger.kit.routers import API_PREFIX
from opsledger.models import User
from tests import factories as f
from tests.api import Person


def console_forms(app: FastAPI) -> set[str]:
    return {
        route.path
        for route in app.router.routes
        if "POST" in (getattr(route, "methods", None) or ())
        and not getattr(route, "path", "").startswith(API_PREFIX)
    }


async def estate(engine: AsyncEngine, person: Person) -> dict[str, Any]:
    """The id of one row of everything a form acts on, by path parameter; ``person`` owns
    the key, the secret and the deployment."""
    async with unit_of_work(session_factory(engine)) as session:
        owner = await session.get(User, person.id)
        assert owner is not None
        host = await f.make_host(session)
        template = await f.make_template(session)
        run = await f.make_run(session)
        channel = await f.make_channel(session)
        delivery = await f.make_delivery(session, channel_id=channel.id)
        return {
            "job_id": (await f.make_job(session, host_id=host.id)).id,
            "template_id": template.id,
            "run_id": run.id,
            "schedule_id": (await f.make_schedule(session, template_id=template.id)).id,
            "change": "disable",
            "window_id": (await f.make_window(session)).id,
            "trigger_id": (await f.make_trigger(session, template_id=template.id)).id,
            "ticket_id": (await f.make_ticket(session)).id,
            "host_id": host.id,
            "credential_id": (await f.make_credential(session, host)).id,
            "role_id": (await f.make_role(session)).id,
            "playbook_id": (await f.make_playbook(session)).id,
            "deployment_id": (await f.make_deployment(session, user_id=owner.id)).id,
            "alert_id": (await f.make_alert(session)).id,
            "verb": "acknowledge",
            "channel_id": channel.id,
            "rule_id": (await f.make_rule(session, channel_id=channel.id)).id,
            "delivery_id": delivery.id,
            "key_id": (await f.make_api_key(session, owner)).id,
            "user_id": (await f.make_user(session)).id,
            "secret_id": (await f.make_secret(session, owner)).id,
            "entry_id": (await f.make_application(session)).id,
            "infrastructure": (await f.make_infrastructure(session, secret_config="{}")).id,
        }


def url(path: str, ids: dict[str, Any]) -> str:
    """The path with ids of the estate (an infrastructure entry's for /infrastructure/…)."""
    if path.startswith("/infrastructure/"):
        ids = ids | {"entry_id": ids["infrastructure"]}
    return path.format(**ids)
