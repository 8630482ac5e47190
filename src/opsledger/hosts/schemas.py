"""The hosts wire format."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

from opsledger.hosts.models import HostStatus
from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import (
    MAX_ID,
    Hostname,
    IpAddress,
    RequestSchema,
    ResponseSchema,
    StrictInput,
    Tags,
    Text,
    UpdateSchema,
)

Short = Annotated[str, StringConstraints(min_length=1, max_length=50)]
SshUser = Annotated[
    str, StringConstraints(min_length=1, max_length=50, pattern=r"^[a-z_][a-z0-9_.-]*\$?$")
]
KeyPath = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^/[^\x00]*$")]
Port = Annotated[int, Field(ge=1, le=65535)]
# `key` (the tag is set) or `key=value`, split at the first `=`: what `?tag=` takes.
TagMatch = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^=]")]
MAX_SELECTED_IDS = 1000


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


class HostCreate(RequestSchema):
    hostname: Hostname
    ip_address: IpAddress
    os_type: Short
    os_version: Short | None = None
    ssh_port: Port = 22
    ssh_user: SshUser = "root"
    ssh_key_path: KeyPath | None = None
    tags: Tags | None = None
    environment: Short | None = None
    description: Text | None = None
    host_role_id: int | None = Field(None, ge=1, le=MAX_ID)

    _hostname = field_validator("hostname")(_lower)


class HostUpdate(UpdateSchema):
    nullable = frozenset(
        {"os_version", "ssh_key_path", "tags", "environment", "description", "host_role_id"}
    )

    hostname: Hostname | None = None
    ip_address: IpAddress | None = None
    os_type: Short | None = None
    os_version: Short | None = None
    ssh_port: Port | None = None
    ssh_user: SshUser | None = None
    ssh_key_path: KeyPath | None = None
    tags: Tags | None = None
    environment: Short | None = None
    description: Text | None = None
    host_role_id: int | None = Field(None, ge=1, le=MAX_ID)
    is_active: StrictBool | None = None  # true or false only, as the schema says

    _hostname = field_validator("hostname")(_lower)


class HostTransition(RequestSchema):
    status: HostStatus
    error_message: Text | None = None


class HostRead(ResponseSchema):
    id: int
    hostname: str
    ip_address: str
    os_type: str
    os_version: str | None
    ssh_port: int
    ssh_user: str
    ssh_key_path: str | None
    tags: dict[str, Any] | None
    environment: str | None
    description: str | None
    host_role_id: int | None
    status: HostStatus
    error_message: str | None
    status_changed_at: datetime | None
    provisioned_at: datetime | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class HostQuery(ListQuery):
    hostname: Hostname | None = None
    ip_address: IpAddress | None = None
    environment: Short | None = None
    status: HostStatus | None = None
    host_role_id: int | None = Field(None, ge=1, le=MAX_ID)
    is_active: bool | None = None
    tag: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="`key` (the tag is set) or `key=value`."
    )

    _hostname = field_validator("hostname")(_lower)

    def filters(self) -> dict[str, Any]:
        return self.model_dump(exclude={"limit", "after", "tag"}, exclude_none=True)


class HostDeleteQuery(RequestSchema):
    hard: bool = Field(
        False, description="Delete the row (admins only) instead of deactivating the host."
    )


def _distinct(ids: list[int]) -> list[int]:
    return sorted(set(ids))


def _selectable(status: HostStatus | None) -> HostStatus | None:
    if status is HostStatus.decommissioned:
        raise ValueError("decommissioned hosts are never selected")
    return status


class HostSelector(StrictInput):
    """Which hosts a template (or a run) works on: the active, non-decommissioned hosts
    that match every criterion given; with none given, every such host."""

    host_ids: (
        Annotated[
            list[Annotated[int, Field(ge=1, le=MAX_ID)]],
            Field(min_length=1, max_length=MAX_SELECTED_IDS),
            AfterValidator(_distinct),
        ]
        | None
    ) = Field(None, description="Only these hosts (those that also match the rest).")
    host_role_id: int | None = Field(None, ge=1, le=MAX_ID)
    environment: Short | None = None
    tags: Annotated[list[TagMatch], Field(min_length=1, max_length=20)] | None = Field(
        None, description="Each `key` (the tag is set) or `key=value`; a host must match all."
    )
    status: Annotated[HostStatus | None, AfterValidator(_selectable)] = None

    def tag_matches(self) -> list[tuple[str, str | None]]:
        return [parse_tag(tag) for tag in self.tags or ()]


def parse_tag(tag: str) -> tuple[str, str | None]:
    """``key`` → (key, None): the tag is set; ``key=value`` → (key, value)."""
    key, equals, value = tag.partition("=")
    return key, value if equals else None


class SelectedHost(ResponseSchema):
    id: int
    hostname: str
    ip_address: str
    environment: str | None
    host_role_id: int | None
    status: HostStatus


class SelectedHosts(ResponseSchema):
    """A keyset page of the hosts a selector matches now, and how many it matches in all."""

    items: list[SelectedHost]
    next_cursor: int | None = None
    total: int


# `key=value`: the tag a bulk action sets on every selected host.
TagSetting = Annotated[str, StringConstraints(min_length=3, max_length=200, pattern=r"^[^=]+=.+$")]
BULK_CHANGES = ("status", "host_role_id", "tag")


class HostBulk(RequestSchema):
    """One change to every host ``selector`` matches: a move along the lifecycle
    (``status``), a host role (``host_role_id``, null to clear it) or a tag (``tag``,
    `key=value`), exactly one of them. All or none: one host that cannot take it refuses
    the whole request (409) and nothing changes."""

    selector: HostSelector
    status: HostStatus | None = None
    host_role_id: int | None = Field(None, ge=1, le=MAX_ID)
    tag: TagSetting | None = None
    expected: int | None = Field(
        None,
        ge=0,
        le=MAX_SELECTED_IDS,
        description="The count the caller confirmed: refused (409) if the selection "
        "matches another number of hosts now.",
    )
    dry_run: StrictBool = Field(False, description="Only count what the selector matches.")

    @model_validator(mode="after")
    def _one_change(self) -> Self:
        given = [name for name in BULK_CHANGES if name in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("give exactly one of status, host_role_id or tag")
        if "status" in given and self.status is None:
            raise ValueError("status: a host status, not null")
        if "tag" in given and self.tag is None:
            raise ValueError("tag: key=value, not null")
        return self

    def tag_setting(self) -> tuple[str, str]:
        key, _, value = (self.tag or "").partition("=")
        return key, value


class HostBulkResult(ResponseSchema):
    matched: int = Field(description="How many hosts the selector matched.")
    changed: list[int] = Field(
        description="The ids of the hosts changed (none on a dry run; a host that had the "
        "role or tag already is left out)."
    )
