"""Console pages for job templates: the list, creating and editing one (its selector,
options and prompts), and a template's page with the hosts it matches now, its recent runs
and a launch form generated from its prompts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, ClassVar, TypeVar

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import FormData

from opsledger.audit.snapshots import MASK
from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.host_roles import service as host_roles
from opsledger.hosts import repository as hosts_repository
from opsledger.hosts.models import HostStatus
from opsledger.hosts.schemas import MAX_SELECTED_IDS
from opsledger.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.playbooks import service as playbooks
from opsledger.runs import service as runs
from opsledger.runs.models import Run
from opsledger.security.context import Ctx
from opsledger.templates import service as templates
from opsledger.templates.models import JobTemplate
from opsledger.templates.prompts import Prompt, PromptType
from opsledger.templates.schemas import (
    TemplateCreate,
    TemplateLaunchRequest,
    TemplateQuery,
    TemplateUpdate,
)
from opsledger.web import forms
from opsledger.web.console import (
    act,
    common,
    form_context,
    from_form,
    frozen,
    list_page,
    page_context,
    page_of_one,
    page_router,
    problems,
    refuse,
    render,
)
from opsledger.web.forms import Csrf

router = page_router("/templates")
MATCHING_SHOWN = 500
RECENT_RUNS = 10
PROMPT_FIELD = "prompt."
TEMPLATE_ONLY = ("name", "description")
# A launch form holds a field per prompt (a multi-choice one, one per choice) and a box
# per matching host shown.
LAUNCH_FIELDS = MATCHING_SHOWN + 50 * 200 + 100


class TemplateForm(BaseModel):
    """The create and edit form, as typed: lists as comma- or line-separated text,
    variables and prompts as YAML."""

    name: str = Field("", max_length=300)
    description: str = Field("", max_length=20_000)
    playbook_id: str = Field("", max_length=30)
    host_ids: str = Field("", max_length=20_000)
    host_role_id: str = Field("", max_length=30)
    environment: str = Field("", max_length=300)
    tags: str = Field("", max_length=10_000)
    status: str = Field("", max_length=30)
    extra_vars: str = Field("", max_length=100_000)
    check: bool = False
    diff: bool = False
    verbosity: str = Field("0", max_length=30)
    job_tags: str = Field("", max_length=10_000)
    skip_tags: str = Field("", max_length=10_000)
    forks: str = Field("5", max_length=30)
    timeout_seconds: str = Field("", max_length=30)
    batch_size: str = Field("", max_length=30)
    max_fail_percentage: str = Field("0", max_length=30)
    prompts: str = Field("", max_length=200_000)
    override_reason: str = Field("", max_length=1000)  # an ad hoc run through a freeze
    csrf_token: str = Field("", max_length=200)

    NUMBERS: ClassVar[tuple[str, ...]] = (
        "verbosity",
        "forks",
        "timeout_seconds",
        "batch_size",
        "max_fail_percentage",
    )

    @classmethod
    def of(cls, template: JobTemplate) -> TemplateForm:
        """The form filled in with ``template`` as stored, for editing it."""
        selector = template.selector
        number = {name: getattr(template, name) for name in cls.NUMBERS}
        return cls(
            name=template.name,
            description=template.description or "",
            playbook_id=str(template.playbook_id),
            host_ids=", ".join(map(str, selector.get("host_ids") or ())),
            host_role_id=str(selector.get("host_role_id") or ""),
            environment=selector.get("environment") or "",
            tags="\n".join(selector.get("tags") or ()),
            status=selector.get("status") or "",
            extra_vars=forms.as_text(template.extra_vars),
            check=template.check,
            diff=template.diff,
            job_tags=", ".join(template.job_tags or ()),
            skip_tags=", ".join(template.skip_tags or ()),
            prompts=forms.as_text(template.prompts),
            **{name: "" if value is None else str(value) for name, value in number.items()},
        )

    def fields(self) -> dict[str, Any]:
        """The template as the API's body would hold it: blanks left out, lists split,
        YAML read (ValueError naming the field that is not a document of its shape)."""
        selector = {
            "host_ids": forms.items(self.host_ids),
            "host_role_id": self.host_role_id or None,
            "environment": self.environment or None,
            "tags": forms.lines(self.tags),  # a value may hold a comma
            "status": self.status or None,
        }
        return {
            "name": self.name,
            "description": self.description or None,
            "playbook_id": self.playbook_id or None,
            "selector": {name: value for name, value in selector.items() if value is not None},
            "check": self.check,
            "diff": self.diff,
            "job_tags": forms.items(self.job_tags),
            "skip_tags": forms.items(self.skip_tags),
            **{name: getattr(self, name) or None for name in self.NUMBERS},
        }


async def _document(form: TemplateForm, name: str, kind: forms.Shape) -> Any:
    """The form's variables or prompts read off the event loop (_Refused if malformed)."""
    try:
        return await asyncio.to_thread(
            forms.plain_document, getattr(form, name), name.replace("_", " "), kind
        )
    except ValueError as exc:
        raise _Refused(name, str(exc)) from None


class _Refused(Exception):
    """One field of a form that does not read as what it must hold."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@router.get("")
async def template_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: TemplateQuery) -> Rows[Any]:
        return await templates.page(ctx, query.filters(), query.limit, query.after)

    return await list_page(
        request, session, "templates:read", "templates.html", TemplateQuery, fetch
    )


async def edit_form(
    request: Request,
    ctx: Ctx,
    form: TemplateForm,
    template: JobTemplate | None = None,
    status: int = 200,
    errors: dict[str, str] | None = None,
    *,
    adhoc: bool = False,
) -> Response:
    """The template form; ``adhoc``: the same playbook, hosts and options run once, now,
    without a template (no name, description or prompts; a freeze's override reason)."""
    active = {"is_active": True}
    return render(
        request,
        "template_edit.html",
        status,
        template=template,
        adhoc=adhoc,
        sent={"override_reason": form.override_reason},
        **(await frozen(ctx) if adhoc else {}),
        form=form,
        fields=TemplateForm.model_fields,
        playbooks=(await playbooks.page(ctx, active, forms.CHOICES, None)).items,
        roles=(await host_roles.page(ctx, {}, forms.CHOICES, None)).items,
        statuses=[s for s in HostStatus if s is not HostStatus.decommissioned],
        prompt_types=list(PromptType),
        # The selector's fields are the form's own: its messages go beside them.
        errors={key.removeprefix("selector."): message for key, message in (errors or {}).items()},
        **common(request, ctx),
    )


@router.get("/new")
async def new_page(request: Request, session: PrimaryReadSession) -> Response:
    ctx = await page_context(request, session, "templates:write")
    if isinstance(ctx, Response):
        return ctx
    return await edit_form(request, ctx, TemplateForm())


async def _save(
    request: Request, session: WriteSession, form: TemplateForm, template_id: int | None
) -> Response:
    """Create (no ``template_id``) or replace a template from the form: a refusal shows
    the form again with each message beside its field, and changes nothing."""
    ctx = await form_context(request, session, "templates:write", form.csrf_token)
    if isinstance(ctx, Response):
        return ctx
    template = None if template_id is None else await _found(request, ctx, template_id)
    if isinstance(template, Response):
        return template

    async def save(fields: dict[str, Any]) -> JobTemplate:
        body = TemplateCreate.model_validate(fields)
        if template is None:
            return await templates.create(ctx, body)
        # The form holds every field: an edit replaces the template's whole definition.
        update = TemplateUpdate.model_validate(body.model_dump(exclude_unset=False))
        return await templates.update(ctx, template.id, update)

    saved = await from_template_form(request, ctx, form, save, template)
    if isinstance(saved, Response):
        return saved
    return RedirectResponse(f"/templates/{saved.id}", status_code=303)


T = TypeVar("T")


async def from_template_form(
    request: Request,
    ctx: Ctx,
    form: TemplateForm,
    save: Callable[[dict[str, Any]], Awaitable[T]],
    template: JobTemplate | None = None,
    *,
    adhoc: bool = False,
) -> T | Response:
    """What ``save`` makes of the form's fields (its variables, and a template's prompts,
    read), or the form again with each refusal beside its field: a name taken (409), or
    for an ad hoc run a freeze window that holds its hosts (409) or an override this
    user may not make (403)."""
    fields = form.fields()
    if adhoc:  # a run has no name, description or prompts; it may pass a freeze
        fields = {name: value for name, value in fields.items() if name not in TEMPLATE_ONLY}
        fields["override_reason"] = form.override_reason.strip() or None
    try:
        fields["extra_vars"] = await _document(form, "extra_vars", dict)
        if not adhoc:
            fields["prompts"] = await _document(form, "prompts", list)
        return await save(fields)
    except _Refused as exc:
        refused, status = {exc.field: exc.message}, 422
    except ValidationError as exc:
        refused, status = problems(exc, fields), 422
    except ValidationFailed as exc:
        refused, status = forms.refusal_fields(exc), 422
    except (Conflict, Forbidden) as exc:
        refused, status = {"form" if adhoc else "name": exc.detail}, exc.status
    return await edit_form(request, ctx, form, template, status, refused, adhoc=adhoc)


async def _found(request: Request, ctx: Ctx, template_id: int) -> JobTemplate | Response:
    try:
        return await templates.get(ctx, template_id)
    except NotFound as exc:
        return refuse(request, 404, f"{exc.detail[:1].upper()}{exc.detail[1:]}.")


@router.post("")
async def create(
    request: Request, session: WriteSession, form: Annotated[TemplateForm, Form()]
) -> Response:
    return await _save(request, session, form, None)


@router.get("/{template_id}")
async def template_page(
    request: Request, session: PrimaryReadSession, template_id: PathId
) -> Response:
    found = await page_of_one(
        request, session, "templates:read", lambda ctx: templates.get(ctx, template_id)
    )
    if isinstance(found, Response):
        return found
    ctx, template = found
    return await _launch_page(request, ctx, template)


async def _launch_page(
    request: Request,
    ctx: Ctx,
    template: JobTemplate,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: FormData | None = None,
) -> Response:
    """The template, the hosts it matches now, its recent runs, and the launch form (with
    what was ``sent`` filled in again, secrets excepted, when a launch was refused)."""
    recent = await runs.page(
        ctx, {"template_id": template.id}, RECENT_RUNS, None, newest_first=True
    )
    role_id = template.selector.get("host_role_id")
    return render(
        request,
        "template.html",
        status,
        template=template,
        playbook=await playbooks.get(ctx, template.playbook_id),
        role=await host_roles.get(ctx, role_id) if role_id else None,
        prompts=shown_prompts(template, sent),
        options=launch_options(template, sent),
        runs=recent.items,
        errors=errors or {},
        sent=sent,
        **await launch_choices(ctx, template),
        **await frozen(ctx),
        **common(request, ctx),
    )


def shown_prompts(
    template: JobTemplate, sent: FormData | None, stored: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Each prompt with its field and the value the field shows: what was sent, else the
    value ``stored`` (a schedule's), else its default; never a secret's."""
    return [_shown(prompt, sent, stored or {}) for prompt in templates.prompts_of(template)]


def _shown(prompt: Prompt, sent: FormData | None, stored: Mapping[str, Any]) -> dict[str, Any]:
    """A prompt with the value its field shows, and whether a secret one has a value kept
    (a blank field keeps it)."""
    field = PROMPT_FIELD + prompt.name
    secret = prompt.type is PromptType.secret
    value: Any = stored.get(prompt.name, prompt.default)
    if value == MASK:  # a secret's, kept for a prompt that is no secret on this template
        value = prompt.default
    if sent is not None:
        value = sent.getlist(field) if prompt.type is PromptType.multi_choice else sent.get(field)
    return {
        "prompt": prompt,
        "field": field,
        "value": None if secret else value,
        "kept": secret and stored.get(prompt.name) == MASK,
    }


def launch_options(
    template: JobTemplate, sent: FormData | None, stored: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What a launch form's fields besides the prompts show: what was sent, else what is
    ``stored`` (a schedule's launch), else the template's own."""
    if sent is not None:
        return {
            "extra_vars": sent.get("extra_vars", ""),
            "check": "check" in sent,
            "diff": "diff" in sent,
            "verbosity": sent.get("verbosity", ""),
            "limited": sent.getlist("limit_host_ids"),
            "hostnames": sent.get("limit_hostnames", ""),
        }
    stored = stored or {}
    return {
        "extra_vars": forms.as_text(stored.get("extra_vars")),
        "check": stored.get("check", template.check),
        "diff": stored.get("diff", template.diff),
        "verbosity": str(stored.get("verbosity", template.verbosity)),
        "limited": [str(host_id) for host_id in stored.get("limit_host_ids") or ()],
        "hostnames": "",
    }


async def launch_choices(ctx: Ctx, template: JobTemplate) -> dict[str, Any]:
    """What a launch form offers to choose from: each prompt's choices read from the
    inventory, and the hosts the template matches now (to limit a launch to some)."""
    matching, total = await templates.preview(ctx, template.id, MATCHING_SHOWN, None)
    return {
        "choices": await templates.inventory_choices(ctx.session, templates.prompts_of(template)),
        "matching": matching.items,
        "matching_total": total,
    }


@router.get("/{template_id}/edit")
async def edit_page(request: Request, session: PrimaryReadSession, template_id: PathId) -> Response:
    found = await page_of_one(
        request, session, "templates:write", lambda ctx: templates.get(ctx, template_id)
    )
    if isinstance(found, Response):
        return found
    ctx, template = found
    return await edit_form(request, ctx, TemplateForm.of(template), template)


@router.post("/{template_id}")
async def update(
    request: Request,
    session: WriteSession,
    template_id: PathId,
    form: Annotated[TemplateForm, Form()],
) -> Response:
    return await _save(request, session, form, template_id)


@router.post("/{template_id}/delete")
async def delete(
    request: Request, session: WriteSession, template_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await act(
        request,
        session,
        "templates:write",
        csrf_token,
        lambda ctx: templates.delete(ctx, template_id),
        "/templates",
    )


def launch_fields(template: JobTemplate, sent: FormData, extra_vars: Any) -> dict[str, Any]:
    """The launch the form asks for, as the API's body would hold it: each prompt's field
    as text (a multi-choice one as the boxes ticked), the boxes and the hosts it is limited
    to."""
    values: dict[str, Any] = {}
    for prompt in templates.prompts_of(template):
        field = PROMPT_FIELD + prompt.name
        many = prompt.type is PromptType.multi_choice
        values[prompt.name] = sent.getlist(field) if many else sent.get(field)
    limit = sent.getlist("limit_host_ids")
    return {
        "prompts": values or None,
        "extra_vars": extra_vars,
        "check": "check" in sent,
        "diff": "diff" in sent,
        "verbosity": sent.get("verbosity") or None,
        "limit_host_ids": limit or None,
    }


def override_reason(sent: FormData) -> str | None:
    """An admin's reason to launch inside a freeze window, if the form gave one."""
    reason = sent.get("override_reason")
    return reason.strip() or None if isinstance(reason, str) else None


async def read_launch(
    ctx: Ctx, sent: FormData, template: JobTemplate
) -> tuple[dict[str, Any], dict[str, str]]:
    """A launch form's fields (launch_fields), or the messages refusing its extra vars or
    the hosts named to limit it to: what the launch form and the schedule forms send."""
    text = sent.get("extra_vars")
    try:
        extra_vars = await asyncio.to_thread(
            forms.plain_document, text if isinstance(text, str) else "", "extra vars", dict
        )
    except ValueError as exc:
        return {}, {"extra_vars": str(exc)}
    fields = launch_fields(template, sent, extra_vars)
    typed = sent.get("limit_hostnames")
    names = (forms.lines(typed) if isinstance(typed, str) else None) or []
    if len(names) > MAX_SELECTED_IDS:
        return {}, {"limit_hostnames": f"at most {MAX_SELECTED_IDS} hosts"}
    found = await hosts_repository.named_all(ctx.session, names)
    if unknown := [name for name in names if name not in found]:
        return {}, {"limit_hostnames": f"no active host is named {', '.join(unknown[:10])}"}
    if found:
        ticked = fields["limit_host_ids"] or []
        fields["limit_host_ids"] = [*ticked, *(str(host.id) for host in found.values())]
    return fields, {}


async def launch_form(
    request: Request, session: WriteSession, template_id: int, action: str
) -> tuple[Ctx, JobTemplate, FormData] | Response:
    """A form post about a template that carries prompt fields: its fields (bounded),
    the actor allowed ``action`` with the right token, and the template."""
    sent = await request.form(max_fields=LAUNCH_FIELDS, max_part_size=100_000)
    token = sent.get("csrf_token")
    ctx = await form_context(request, session, action, token if isinstance(token, str) else "")
    if isinstance(ctx, Response):
        return ctx
    template = await _found(request, ctx, template_id)
    if isinstance(template, Response):
        return template
    return ctx, template, sent


@router.post("/{template_id}/launch")
async def launch(request: Request, session: WriteSession, template_id: PathId) -> Response:
    found = await launch_form(request, session, template_id, "jobs:run")
    if isinstance(found, Response):
        return found
    ctx, template, sent = found
    fields, errors = await read_launch(ctx, sent, template)
    if errors:
        return await _launch_page(request, ctx, template, 422, errors, sent)

    async def save() -> Run:
        body = TemplateLaunchRequest.model_validate(
            fields | {"override_reason": override_reason(sent)}
        )
        return await runs.launch_template(
            ctx, template.id, body, from_text=True, override_reason=body.override_reason
        )

    async def again(status: int, refused: dict[str, str]) -> Response:
        return await _launch_page(request, ctx, template, status, refused, sent)

    # A conflict here is a freeze window holding a host: said above the form.
    run = await from_form(save, fields, again, conflict_field="form")
    if isinstance(run, Response):
        return run
    return RedirectResponse(f"/runs/{run.id}", status_code=303)
