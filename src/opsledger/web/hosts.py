"""Console pages for hosts: the list, a host with its role, credential metadata and
recent jobs, and the Provision button; a form that adds a host or edits one (refusals
beside their fields, keeping what was typed), and the lifecycle moves the host may make
from its status; one change to every host the list's filters, several tags or the hosts
ticked on it select, after a page that names how many that is."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from pydantic import Field as PydanticField
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger import flows
from opsledger.credentials import service as credentials
from opsledger.credentials.models import CredentialType
from opsledger.credentials.schemas import CredentialCreate, CredentialRotate
from opsledger.db.dependencies import PrimaryReadSession, WriteSession
from opsledger.host_roles import service as host_roles
from opsledger.hosts import service as hosts
from opsledger.hosts.models import Host, HostStatus
from opsledger.hosts.schemas import (
    MAX_SELECTED_IDS,
    HostBulk,
    HostCreate,
    HostQuery,
    HostSelector,
    HostTransition,
    HostUpdate,
)
from opsledger.jobs import service as jobs
from opsledger.kit.errors import Conflict, NotFound, ValidationFailed
from opsledger.kit.http import PathId
from opsledger.kit.pagination import Rows
from opsledger.runs.schemas import FleetProvision
from opsledger.security.context import Ctx
from opsledger.security.policy import allows
from opsledger.web import forms
from opsledger.web.console import (
    act,
    change_then,
    common,
    form_context,
    form_of_one,
    from_form,
    list_page,
    page_context,
    page_of_one,
    page_router,
    parsed,
    problems,
    refuse,
    render,
)
from opsledger.web.forms import Csrf

router = page_router()
RECENT_JOBS = 10
CREDENTIALS_SHOWN = 100
Field = Annotated[str, Form(max_length=50)]
WRITE = "hosts:write"
PURGE = "hosts:purge"
CREDENTIALS = "credentials:write"
RUN = "jobs:run"
PROVISION = "provision"  # the bulk change that launches runs instead of changing hosts
# The credential forms' fields: its kind is posted as "type", as the API names it.
Kind = Annotated[str, Form(alias="type", max_length=50)]
Secret = Annotated[str, Form(max_length=70_000)]
# The form's fields, in its order: what a refused form shows again.
FIELDS = (
    "hostname",
    "ip_address",
    "os_type",
    "os_version",
    "ssh_port",
    "ssh_user",
    "ssh_key_path",
    "environment",
    "host_role_id",
    "tags",
    "description",
)
# Blank means "none" for these; for the rest of an edit it means "leave as it is".
NULLABLE = frozenset(HostUpdate.nullable)


@router.get("/hosts")
async def host_list(request: Request, session: PrimaryReadSession) -> Response:
    async def fetch(ctx: Ctx, query: HostQuery) -> Rows[Any]:
        return await hosts.page(ctx, query.filters(), query.tag, query.limit, query.after)

    async def roles(ctx: Ctx) -> dict[str, Any]:
        return {"roles": (await host_roles.page(ctx, {}, forms.CHOICES, None)).items}

    return await list_page(
        request,
        session,
        "hosts:read",
        "hosts.html",
        HostQuery,
        fetch,
        200,
        roles,
        statuses=list(HostStatus),
    )


async def offered(ctx: Ctx, chosen: str | int | None) -> list[Host]:
    """The active hosts a form's host list offers: the first of them, and the one chosen
    (a host page's link names it) wherever it sorts, so that a fleet larger than a list
    can show still reaches every host from its own page."""
    first = (await hosts.page(ctx, {"is_active": True}, None, forms.CHOICES, None)).items
    wanted = forms.id_of(str(chosen or ""))
    if wanted and all(host.id != wanted for host in first):
        try:
            host = await hosts.get(ctx, wanted)
        except NotFound:
            return first  # the form says so when it is sent
        return [host, *first] if host.is_active else first
    return first


SHOWN_IN_CONFIRMATION = 20
TickedId = Annotated[str, StringConstraints(max_length=20)]
TagLines = Annotated[str, StringConstraints(max_length=10_000)]


class Selection(BaseModel):
    """A selector where the API's bulk request puts it, so that its refusals are located as
    a bulk change's are (``selector.tags.1``): beside the selection, not the change."""

    selector: HostSelector


class BulkForm(BaseModel):
    """A bulk change as the console asks for it: the hosts ticked on the list, the list's
    filters a selector takes, tags, which change, and its value. Each entry of ``tags`` is
    read a line each (a tag's value may hold a comma): the review form's text area sends
    them all in one, the list and the confirm form one an entry."""

    # A field it does not know is refused, not ignored: a selection left out is a wider one
    # (a page from before ``tag`` became ``tags``).
    model_config = ConfigDict(extra="forbid")

    # One more id and tag entry than the API takes: too many get the API's refusal, on
    # the page, and not FastAPI's.
    host_ids: list[TickedId] = PydanticField([], max_length=MAX_SELECTED_IDS + 1)
    environment: str = PydanticField("", max_length=50)
    status: str = PydanticField("", max_length=50)
    tags: list[TagLines] = PydanticField([], max_length=21)
    role: str = PydanticField("", max_length=20)  # the selection's host role (a filter)
    change: str = PydanticField("", max_length=20)
    to_status: str = PydanticField("", max_length=50)
    host_role_id: str = PydanticField("", max_length=20)
    set_tag: str = PydanticField("", max_length=200)
    forks: str = PydanticField("5", max_length=20)  # how provisioning rolls out
    batch_size: str = PydanticField("", max_length=20)
    max_fail_percentage: str = PydanticField("0", max_length=20)
    expected: int | None = PydanticField(None, ge=0)
    csrf_token: str = PydanticField("", max_length=200)

    def tag_list(self) -> list[str]:
        return [tag for entry in self.tags for tag in forms.lines(entry) or ()]

    def criteria(self) -> dict[str, Any]:
        """The selector as the API's body gives it: only the criteria given."""
        chosen = {
            "host_ids": self.host_ids,
            "environment": self.environment,
            "status": self.status,
            "host_role_id": self.role,
            "tags": self.tag_list(),
        }
        return {name: value for name, value in chosen.items() if value}

    def body(self, dry_run: bool) -> dict[str, Any]:
        """The API's bulk request for this form, as sent: where its refusals point."""
        body: dict[str, Any] = {
            "selector": self.criteria(),
            "dry_run": dry_run,
            "expected": self.expected,
        }
        if self.change == "status":
            body["status"] = self.to_status or None
        elif self.change == "role":
            body["host_role_id"] = self.host_role_id or None
        elif self.change == "tag":
            body["tag"] = self.set_tag or None
        elif self.change == PROVISION:
            body |= self.rollout()
        return body

    def rollout(self) -> dict[str, Any]:
        """How provisioning the selection rolls out: at most ``forks`` hosts at once, in
        batches of ``batch_size`` (all at once if none), stopping once more than
        ``max_fail_percentage`` of a batch failed."""
        return {
            "forks": self.forks,
            "batch_size": self.batch_size or None,
            "max_fail_percentage": self.max_fail_percentage,
        }

    def provision(self) -> FleetProvision:
        """The API's fleet provisioning for this form; ValidationError as it refuses it."""
        return FleetProvision.model_validate({"selector": self.criteria(), **self.rollout()})

    def selector(self) -> HostSelector:
        """The hosts the form selects; ValidationError as the API would refuse them."""
        return Selection.model_validate({"selector": self.criteria()}).selector

    def bulk(self, dry_run: bool) -> HostBulk:
        """The API's request for this form; ValidationError as the API would refuse it."""
        return HostBulk.model_validate(self.body(dry_run))

    def refusals(self, exc: ValidationError) -> dict[str, str]:
        """Why ``selector`` or ``bulk`` refused the form, by where in the body."""
        return problems(exc, self.body(False))

    def listed(self) -> str:
        """The host list with this selection's filters. It takes no ids and one tag: the
        first, which every selected host has."""
        tags = self.tag_list()
        filters = {
            "environment": self.environment,
            "status": self.status,
            "host_role_id": self.role,
            "tag": tags[0] if tags else "",
        }
        return f"/hosts?{urlencode(filters)}"


@router.get("/hosts/bulk")
async def bulk_page(
    request: Request, session: PrimaryReadSession, form: Annotated[BulkForm, Query()]
) -> Response:
    """What a bulk change would do: how many hosts, the first of them, and a button that
    makes it, carrying that count (refused if the selection moves before it is pressed)."""
    ctx = await page_context(request, session, WRITE)
    if isinstance(ctx, Response):
        return ctx
    return await _bulk_page(request, ctx, form)


@router.post("/hosts/bulk")
async def bulk_change(
    request: Request,
    session: WriteSession,
    form: Annotated[BulkForm, Form()],
) -> Response:
    provision = form.change == PROVISION
    # Provisioning launches runs: it asks for what launching does, besides changing hosts.
    ctx = await form_context(request, session, RUN if provision else WRITE, form.csrf_token)
    if isinstance(ctx, Response):
        return ctx
    try:
        if provision:
            launched = await _provision(ctx, form)
        else:
            await hosts.bulk(ctx, form.bulk(dry_run=False))
    except ValidationError as exc:
        return await _bulk_page(request, ctx, form, 422, form.refusals(exc))
    except (Conflict, ValidationFailed) as exc:
        return await _bulk_page(request, ctx, form, exc.status, {"form": exc.detail})
    if provision:
        return RedirectResponse(
            f"/runs/{launched[0].id}" if len(launched) == 1 else "/runs", status_code=303
        )
    return RedirectResponse(form.listed(), status_code=303)


async def _provision(ctx: Ctx, form: BulkForm) -> list[Any]:
    """Every selected host provisioned with its role's default playbook, one run per
    playbook; Conflict when the selection no longer holds the hosts the page counted."""
    fleet = form.provision()
    await hosts.confirmed_selection(ctx, fleet.selector, form.expected)
    return await flows.provision_fleet(ctx, fleet)


async def _bulk_page(
    request: Request,
    ctx: Ctx,
    form: BulkForm,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> Response:
    """The selection (how many, the first of them), the change's form, and once the
    change is whole and fits the API's rules, the button that makes it."""
    errors = dict(errors or {})
    matched: list[Host] = []
    ready = False
    try:
        matched = await hosts.resolve_selector(ctx.session, form.selector())
        if form.change == PROVISION:
            form.provision()
            ready = bool(matched) and not errors
        elif form.change:
            form.bulk(dry_run=True)
            ready = bool(matched) and not errors
    except ValidationError as exc:
        errors |= form.refusals(exc)
        status = max(status, 422)
    roles = await host_roles.page(ctx, {}, forms.CHOICES, None)
    return render(
        request,
        "hosts_bulk.html",
        status,
        sent=form.model_dump(exclude={"expected", "csrf_token"}) | {"tags": form.tag_list()},
        listed=form.listed(),
        matched=len(matched),
        shown=matched[:SHOWN_IN_CONFIRMATION],
        ready=ready,
        statuses=list(HostStatus),
        roles=roles.items,
        errors=errors,
        **common(request, ctx),
    )


@router.get("/hosts/new")
async def new_host_page(request: Request, session: PrimaryReadSession) -> Response:
    ctx = await page_context(request, session, WRITE)
    if isinstance(ctx, Response):
        return ctx
    return await _form(request, ctx, None)


@router.get("/hosts/{host_id}")
async def host_page(request: Request, session: PrimaryReadSession, host_id: PathId) -> Response:
    found = await page_of_one(request, session, "hosts:read", lambda ctx: hosts.get(ctx, host_id))
    if isinstance(found, Response):
        return found
    return await _host_page(request, *found)


async def _host_page(
    request: Request,
    ctx: Ctx,
    host: Host,
    status: int = 200,
    credential_errors: dict[str, str] | None = None,
    delete_errors: dict[str, str] | None = None,
    credential_sent: dict[str, str] | None = None,
) -> Response:
    """A host; ``credential_errors``: why the credential form was refused, and
    ``credential_sent`` its type and user as typed (its value is never shown again: it
    may be a key); ``delete_errors``: why deleting it for good was not confirmed."""
    role = await host_roles.get(ctx, host.host_role_id) if host.host_role_id else None
    shown_credentials = (
        (await credentials.page(ctx, host.id, {}, CREDENTIALS_SHOWN, None)).items
        if allows(ctx.user.role, "credentials:read", ctx.user.scopes)
        else None
    )
    return render(
        request,
        "host.html",
        status,
        host=host,
        role=role,
        moves=sorted(hosts.HOST_TRANSITIONS[HostStatus(host.status)]),
        credentials=shown_credentials,
        credential_types=list(CredentialType),
        credential_errors=credential_errors or {},
        credential_sent=credential_sent or {},
        delete_errors=delete_errors or {},
        jobs=await jobs.latest(ctx, RECENT_JOBS, host.id),
        **common(request, ctx),
    )


@router.post("/hosts/{host_id}/provision")
async def provision(
    request: Request, session: WriteSession, host_id: PathId, csrf_token: Csrf = ""
) -> Response:
    return await act(
        request,
        session,
        "jobs:run",
        csrf_token,
        lambda ctx: flows.provision(ctx, host_id),
        lambda job: f"/jobs/{job.id}",
    )


def _fields(sent: dict[str, str], host: Host | None) -> dict[str, Any]:
    """The form as the API's body: blank optional fields left out (or set to none)."""
    fields: dict[str, Any] = {}
    for name in FIELDS:
        value = sent[name].strip() if name != "description" else sent[name]
        if name == "tags":
            fields[name] = _tags(value, host.tags or {} if host else {})
        elif value or name in NULLABLE:
            fields[name] = value or None
    return fields


def _tags(text: str, stored: dict[str, Any]) -> dict[str, Any] | None:
    """Tags typed a line each (a value may hold a comma); a value the form showed and
    that was left as shown keeps the type it was stored with (a number or a boolean the
    API set), and a tag the form cannot show is kept as it is."""
    typed = forms.pairs(text, lines_only=True) or {}
    tags = {
        key: stored[key] if key in stored and _shown_tag(stored[key]) == value else value
        for key, value in typed.items()
    }
    tags |= {key: value for key, value in stored.items() if not _typable(key, value)}
    return tags or None


def _typable(key: str, value: Any) -> bool:
    """Whether a tag reads back as itself from a ``key=value`` line: not with a ``=`` in
    its key or a line break in either (the API allows them)."""
    return not ("=" in key or "\n" in key or "\n" in _shown_tag(value))


def _shown_tag(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _as_sent(host: Host) -> dict[str, str]:
    """A host's values as its edit form shows them (a tag it cannot show is kept)."""
    shown = {name: getattr(host, name) for name in FIELDS if name != "tags"}
    tags = "\n".join(
        f"{key}={_shown_tag(value)}"
        for key, value in (host.tags or {}).items()
        if _typable(key, value)
    )
    return {name: "" if value is None else str(value) for name, value in shown.items()} | {
        "tags": tags
    }


async def _form(
    request: Request,
    ctx: Ctx,
    host: Host | None,
    status: int = 200,
    errors: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> Response:
    roles = await host_roles.page(ctx, {}, forms.CHOICES, None)
    return render(
        request,
        "host_form.html",
        status,
        host=host,
        roles=roles.items,
        fields=FIELDS,
        kept_tags=[key for key, value in (host.tags or {}).items() if not _typable(key, value)]
        if host
        else [],
        errors=errors or {},
        sent=sent if sent is not None else (_as_sent(host) if host else {"ssh_port": "22"}),
        **common(request, ctx),
    )


@router.get("/hosts/{host_id}/edit")
async def edit_host_page(
    request: Request, session: PrimaryReadSession, host_id: PathId
) -> Response:
    found = await page_of_one(request, session, WRITE, lambda ctx: hosts.get(ctx, host_id))
    if isinstance(found, Response):
        return found
    return await _form(request, *found)


async def _save(
    request: Request, session: AsyncSession, form: HostForm, host_id: int | None
) -> Response:
    ctx = await form_context(request, session, WRITE, form.csrf_token)
    if isinstance(ctx, Response):
        return ctx
    try:
        host = None if host_id is None else await hosts.get(ctx, host_id)
    except NotFound as exc:
        return refuse(request, 404, exc.detail)
    sent = form.sent()
    fields = _fields(sent, host)
    if not allows(ctx.user.role, CREDENTIALS, ctx.user.scopes):
        # Not on their form (a key path is as good as a credential): left as it is.
        fields.pop("ssh_key_path", None)

    async def save() -> Host:
        if host is None:
            return await hosts.create(ctx, HostCreate.model_validate(fields))
        return await hosts.update(ctx, host.id, HostUpdate.model_validate(fields))

    async def again(status: int, refused: dict[str, str]) -> Response:
        return await _form(request, ctx, host, status, refused, sent)

    saved = await from_form(save, fields, again, conflict_field="hostname")
    if isinstance(saved, Response):
        return saved
    return RedirectResponse(f"/hosts/{saved.id}", status_code=303)


class HostForm(BaseModel):
    """What the host form posts: text as typed, read by the API's schemas in ``_save``."""

    hostname: str = PydanticField("", max_length=2000)
    ip_address: str = PydanticField("", max_length=2000)
    os_type: str = PydanticField("", max_length=2000)
    os_version: str = PydanticField("", max_length=2000)
    ssh_port: str = PydanticField("", max_length=2000)
    ssh_user: str = PydanticField("", max_length=2000)
    ssh_key_path: str = PydanticField("", max_length=2000)
    environment: str = PydanticField("", max_length=2000)
    host_role_id: str = PydanticField("", max_length=2000)
    tags: str = PydanticField("", max_length=10_000)
    description: str = PydanticField("", max_length=10_000)
    csrf_token: str = PydanticField("", max_length=200)

    def sent(self) -> dict[str, str]:
        return self.model_dump(include=set(FIELDS))


HostFields = Annotated[HostForm, Form()]


@router.post("/hosts")
async def add_host(request: Request, session: WriteSession, form: HostFields) -> Response:
    return await _save(request, session, form, None)


@router.post("/hosts/{host_id}/edit")
async def edit_host(
    request: Request, session: WriteSession, host_id: PathId, form: HostFields
) -> Response:
    return await _save(request, session, form, host_id)


@router.post("/hosts/{host_id}/move")
async def move_host(
    request: Request,
    session: WriteSession,
    host_id: PathId,
    status: Field = "",
    error_message: Annotated[str, Form(max_length=10_000)] = "",
    csrf_token: Csrf = "",
) -> Response:
    """One lifecycle move (to failed, with why); a move the host may not make from its
    status is 409."""

    async def move(ctx: Ctx) -> Host:
        body = parsed(
            HostTransition.model_validate,
            {"status": status, "error_message": error_message.strip() or None},
            f"Not a move a host makes: {status!r}, or the reason is not plain text.",
        )
        return await hosts.transition(ctx, host_id, body)

    return await act(request, session, WRITE, csrf_token, move, f"/hosts/{host_id}")


@router.post("/hosts/{host_id}/delete")
async def delete_host(
    request: Request,
    session: WriteSession,
    host_id: PathId,
    hard: Annotated[bool, Form()] = False,
    confirm: Annotated[str, Form(max_length=300)] = "",
    csrf_token: Csrf = "",
) -> Response:
    """Deactivate the host, or (admins, ``hard``) delete it and its credentials once its
    hostname is typed to confirm: refused (409, the page says why) while it has jobs,
    which are the record and kept."""
    if hard:
        found = await form_of_one(
            request, session, PURGE, csrf_token, lambda ctx: hosts.get(ctx, host_id)
        )
        if isinstance(found, Response):
            return found
        ctx, host = found
        if confirm.strip().lower() != host.hostname:
            wanted = {"confirm": f"Type {host.hostname} to delete this host for good."}
            return await _host_page(request, ctx, host, 422, delete_errors=wanted)
        return await change_then(
            request, ctx, lambda ctx: hosts.delete(ctx, host.id, True), "/hosts"
        )
    return await act(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: hosts.delete(ctx, host_id, False),
        f"/hosts/{host_id}",
    )


@router.post("/hosts/{host_id}/activate")
async def activate_host(
    request: Request, session: WriteSession, host_id: PathId, csrf_token: Csrf = ""
) -> Response:
    """A deactivated host back in selections."""
    body = HostUpdate(is_active=True)
    return await act(
        request,
        session,
        WRITE,
        csrf_token,
        lambda ctx: hosts.update(ctx, host_id, body),
        f"/hosts/{host_id}",
    )


@router.post("/hosts/{host_id}/credentials")
async def add_credential(
    request: Request,
    session: WriteSession,
    host_id: PathId,
    kind: Kind = "",
    username: Annotated[str, Form(max_length=200)] = "",
    value: Secret = "",
    csrf_token: Csrf = "",
) -> Response:
    found = await form_of_one(
        request, session, CREDENTIALS, csrf_token, lambda ctx: hosts.get(ctx, host_id)
    )
    if isinstance(found, Response):
        return found
    ctx, host = found
    fields = {"type": kind, "username": username, "value": value}

    async def save() -> object:
        return await credentials.add(ctx, host.id, CredentialCreate.model_validate(fields))

    async def again(status: int, refused: dict[str, str]) -> Response:
        typed = {"type": kind, "username": username}
        return await _host_page(request, ctx, host, status, refused, credential_sent=typed)

    made = await from_form(save, fields, again)
    if isinstance(made, Response):
        return made
    return RedirectResponse(f"/hosts/{host.id}#credentials", status_code=303)


@router.post("/hosts/{host_id}/credentials/{credential_id}/rotate")
async def rotate_credential(
    request: Request,
    session: WriteSession,
    host_id: PathId,
    credential_id: PathId,
    value: Secret = "",
    csrf_token: Csrf = "",
) -> Response:
    """A new value for the credential; the old one is kept, inactive."""
    found = await form_of_one(
        request, session, CREDENTIALS, csrf_token, lambda ctx: hosts.get(ctx, host_id)
    )
    if isinstance(found, Response):
        return found
    ctx, host = found
    try:
        new = CredentialRotate.model_validate({"value": value}).value.get_secret_value()
    except ValidationError:
        return await _host_page(request, ctx, host, 422, {"value": "a new value is needed"})
    try:
        await credentials.rotate(ctx, host.id, credential_id, new)
    except (NotFound, Conflict) as exc:
        return refuse(request, exc.status, exc.detail)
    return RedirectResponse(f"/hosts/{host.id}#credentials", status_code=303)


@router.post("/hosts/{host_id}/credentials/deactivate")
async def deactivate_credentials(
    request: Request,
    session: WriteSession,
    host_id: PathId,
    kind: Kind = "",
    csrf_token: Csrf = "",
) -> Response:
    """Deactivate every active credential of a type on the host."""

    async def deactivate(ctx: Ctx) -> Any:
        chosen = parsed(CredentialType, kind, f"{kind!r} is not a credential type.")
        return await credentials.deactivate_type(ctx, host_id, chosen)

    return await act(
        request, session, CREDENTIALS, csrf_token, deactivate, f"/hosts/{host_id}#credentials"
    )
