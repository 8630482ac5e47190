"""Console pages for runs: the list, one started ad hoc (a playbook on the hosts a selector
matches, without a template), and a run with its hosts' results and its task-by-host
matrix (kept current while it runs), each host's output live, cancel and relaunch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.jobs.models import JobStatus, JobTask
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.playbooks import service as playbooks
from opsledger.runs import service as runs
from opsledger.runs.models import Run
from opsledger.runs.schemas import (
    RelaunchBody,
    RelaunchHosts,
    RunCreate,
    RunQuery,
    RunRead,
    host_result,
)
from opsledger.security.context import Ctx
from opsledger.templates import service as templates
from opsledger.web.console import (
    act,
    common,
    form_context,
    frozen,
    list_page,
    page_context,
    page_of_one,
    page_router,
    parsed,
    render,
)
from opsledger.web.forms import Csrf, QueryId
from opsledger.web.job_templates import TemplateForm, edit_form, from_template_form

router = page_router("/runs")
# Hosts per page of a run's host table and matrix.
HOSTS_SHOWN = 200
ACTIVE = frozenset({JobStatus.pending, JobStatus.running})


@router.get("")
async def run_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: RunQuery) -> Rows[Any]:
        rows = await runs.page(ctx, query.filters(), query.limit, query.after, newest_first=True)
        tallies = await runs.tallies(ctx, rows.items)
        return Rows([RunRead.of(run, tallies[run.id]) for run in rows.items], rows.next_cursor)

    return await list_page(
        request, session, "jobs:read", "runs.html", RunQuery, fetch, statuses=list(JobStatus)
    )


@dataclass(frozen=True)
class Matrix:
    """A page of a run's hosts by its tasks: ``columns`` are the tasks in play order, and
    ``cells`` each host's (job's) result of each, by (job id, position)."""

    columns: list[tuple[int, str]]
    cells: dict[tuple[int, int], JobTask]

    @classmethod
    def of(cls, tasks: list[JobTask]) -> Matrix:
        names: dict[int, str] = {}
        for task in tasks:
            names.setdefault(task.position, task.task)
        return cls(sorted(names.items()), {(task.job_id, task.position): task for task in tasks})


async def _state(ctx: Ctx, run: Run, after: int | None) -> dict[str, Any]:
    """What the run page shows and keeps current: the run, its tally, a page of its hosts
    with their results, and their rows of the task matrix."""
    hosts = await runs.hosts_page(ctx, run.id, HOSTS_SHOWN, after)
    return {
        "run": RunRead.of(run, await runs.tally(ctx, run)),
        "active": run.status in ACTIVE,
        "hosts": [(job, host_result(job)) for job in hosts.items],
        "next_cursor": hosts.next_cursor,
        "after": after,
        "matrix": Matrix.of(await runs.tasks_of(ctx, hosts.items)),
    }


@router.get("/new")
async def new_run_page(request: Request, session: PrimaryReadSession) -> Response:
    """A playbook run once, now, on the hosts a selector matches, without a template."""
    ctx = await page_context(request, session, "jobs:run")
    if isinstance(ctx, Response):
        return ctx
    return await edit_form(request, ctx, TemplateForm(), adhoc=True)


@router.post("")
async def start_run(
    request: Request, session: WriteSession, form: Annotated[TemplateForm, Form()]
) -> Response:
    ctx = await form_context(request, session, "jobs:run", form.csrf_token)
    if isinstance(ctx, Response):
        return ctx

    async def save(fields: dict[str, Any]) -> Run:
        return await runs.create(ctx, RunCreate.model_validate(fields))

    started = await from_template_form(request, ctx, form, save, adhoc=True)
    if isinstance(started, Response):
        return started
    return RedirectResponse(f"/runs/{started.id}", status_code=303)


@router.get("/{run_id}")
async def run_page(
    request: Request, session: PrimaryReadSession, run_id: PathId, after: QueryId = None
) -> Response:
    found = await page_of_one(request, session, "jobs:read", lambda ctx: runs.get(ctx, run_id))
    if isinstance(found, Response):
        return found
    ctx, run = found
    return render(
        request,
        "run.html",
        playbook=await playbooks.get(ctx, run.playbook_id),
        template=await templates.get(ctx, run.template_id) if run.template_id else None,
        **await _state(ctx, run, after),
        **await frozen(ctx),
        **common(request, ctx),
    )


@router.get("/{run_id}/live")
async def run_live(
    request: Request, session: PrimaryReadSession, run_id: PathId, after: QueryId = None
) -> Response:
    """The part of the run page that changes while it runs, for the page to swap in."""
    found = await page_of_one(request, session, "jobs:read", lambda ctx: runs.get(ctx, run_id))
    if isinstance(found, Response):
        return found
    ctx, run = found
    state = await _state(ctx, run, after)
    return render(request, "_run_live.html", **state, **await frozen(ctx), **common(request, ctx))


@router.post("/{run_id}/cancel")
async def cancel(
    request: Request, session: WriteSession, run_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await act(
        request,
        session,
        "jobs:run",
        csrf_token,
        lambda ctx: runs.cancel(ctx, run_id),
        f"/runs/{run_id}",
    )


@router.post("/{run_id}/relaunch")
async def relaunch(
    request: Request,
    session: WriteSession,
    run_id: PathId,
    hosts: Annotated[RelaunchHosts, Form()] = RelaunchHosts.failed,
    override_reason: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Csrf = "",
) -> Response:
    """A new run over the failed hosts or all of them; while a freeze window holds them,
    an admin relaunches through it with a reason (audited), anyone else gets 409."""

    async def relaunch(ctx: Ctx) -> Run:
        body = parsed(
            RelaunchBody.model_validate,
            {"hosts": hosts, "override_reason": override_reason.strip() or None},
            "The reason must be plain text of at most 1000 characters.",
        )
        return await runs.relaunch(ctx, run_id, body.hosts, override_reason=body.override_reason)

    return await act(
        request, session, "jobs:run", csrf_token, relaunch, lambda run: f"/runs/{run.id}"
    )
