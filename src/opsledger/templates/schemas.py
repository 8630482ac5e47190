"""The job templates wire format."""

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

from opsledger.hosts.schemas import HostSelector
from opsledger.kit.filtering import ListQuery
from opsledger.kit.schemas import (
    MAX_ID,
    OverrideReason,
    RequestSchema,
    ResponseSchema,
    Text,
    UpdateSchema,
    Variables,
)
from opsledger.templates.prompts import Prompt

TemplateName = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
]
# Ansible's tag names as `--tags a,b` takes them: no commas, no spaces, no leading dash.
AnsibleTags = Annotated[
    list[
        Annotated[
            str,
            StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_][^,\s]*$"),
        ]
    ],
    Field(min_length=1, max_length=50),
]
Verbosity = Annotated[int, Field(ge=0, le=4, description="0 (default) to 4 (-vvvv).")]
Forks = Annotated[int, Field(ge=1, le=50, description="Hosts Ansible works on at once.")]
TimeoutSeconds = Annotated[
    int, Field(ge=1, le=7 * 24 * 3600, description="Null: no limit but the server's.")
]
BatchSize = Annotated[
    int,
    Field(
        ge=1,
        le=10_000,
        description="Hosts per rolling batch, the first being the canary; null: all at once.",
    ),
]
FailPercentage = Annotated[
    int,
    Field(
        ge=0,
        le=100,
        description="The run fails, and stops before its next batch, once more than this "
        "share of its hosts has failed (0: any failure).",
    ),
]
MAX_PROMPTS = 50


def _distinct_names(prompts: list[Prompt]) -> list[Prompt]:
    names = [prompt.name for prompt in prompts]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"prompt names must differ: {', '.join(repeated)}")
    return prompts


Prompts = Annotated[list[Prompt], Field(max_length=MAX_PROMPTS), AfterValidator(_distinct_names)]


def tags_apart(job_tags: list[str] | None, skip_tags: list[str] | None) -> None:
    both = sorted(set(job_tags or ()) & set(skip_tags or ()))
    if both:
        raise ValueError(f"a tag may not be both run and skipped: {', '.join(both)}")


class LaunchOptions(RequestSchema):
    """How ansible-playbook runs and how a run rolls: a template's, or an ad hoc run's."""

    check: StrictBool = Field(False, description="Dry run (--check).")
    diff: StrictBool = Field(False, description="Show changes (--diff).")
    verbosity: Verbosity = 0
    job_tags: AnsibleTags | None = Field(None, description="Run only tasks with these tags.")
    skip_tags: AnsibleTags | None = Field(None, description="Skip tasks with these tags.")
    forks: Forks = 5
    timeout_seconds: TimeoutSeconds | None = None
    batch_size: BatchSize | None = None
    max_fail_percentage: FailPercentage = 0

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        tags_apart(self.job_tags, self.skip_tags)
        return self


class PlaybookLaunch(LaunchOptions):
    """A playbook on the hosts a selector matches, with variables and options: what a
    template saves and an ad hoc run sends."""

    playbook_id: int = Field(ge=1, le=MAX_ID)
    selector: HostSelector
    extra_vars: Variables | None = Field(
        None,
        description="Above the playbook's and each host role's variables; passed as data "
        "(never templated); names starting `ansible_` are refused.",
    )


class TemplateCreate(PlaybookLaunch):
    name: TemplateName
    description: Text | None = None
    prompts: Prompts | None = None


class TemplateLaunch(RequestSchema):
    """What a launch may add to its template: variables, prompt values, and a narrower
    or more careful run."""

    extra_vars: Variables | None = Field(
        None, description="Above the template's own; names starting `ansible_` are refused."
    )
    prompts: dict[str, Any] | None = Field(
        None, description="A value per prompt name, checked against the template's prompts."
    )
    check: StrictBool | None = None
    diff: StrictBool | None = None
    verbosity: Verbosity | None = None
    limit_host_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        None,
        min_length=1,
        max_length=10_000,
        description="Only these of the hosts the template's selector matches.",
    )


class TemplateLaunchRequest(TemplateLaunch):
    """A launch someone sends (a schedule's or a trigger's launches never override)."""

    override_reason: OverrideReason = None


class TemplateUpdate(UpdateSchema):
    nullable = frozenset(
        {
            "description",
            "extra_vars",
            "job_tags",
            "skip_tags",
            "timeout_seconds",
            "batch_size",
            "prompts",
        }
    )

    name: TemplateName | None = None
    description: Text | None = None
    playbook_id: int | None = Field(None, ge=1, le=MAX_ID)
    selector: HostSelector | None = None
    extra_vars: Variables | None = None
    check: StrictBool | None = None
    diff: StrictBool | None = None
    verbosity: Verbosity | None = None
    job_tags: AnsibleTags | None = None
    skip_tags: AnsibleTags | None = None
    forks: Forks | None = None
    timeout_seconds: TimeoutSeconds | None = None
    batch_size: BatchSize | None = None
    max_fail_percentage: FailPercentage | None = None
    prompts: Prompts | None = None


class TemplateRead(ResponseSchema):
    id: int
    name: str
    description: str | None
    playbook_id: int
    selector: HostSelector
    extra_vars: dict[str, Any] | None
    check: bool
    diff: bool
    verbosity: int
    job_tags: list[str] | None
    skip_tags: list[str] | None
    forks: int
    timeout_seconds: int | None
    batch_size: int | None
    max_fail_percentage: int
    prompts: list[Prompt]
    created_at: datetime
    updated_at: datetime

    @field_validator("prompts", mode="before")
    @classmethod
    def _none_is_empty(cls, prompts: list[Any] | None) -> list[Any]:
        return prompts or []


class TemplateQuery(ListQuery):
    name: TemplateName | None = None
    playbook_id: int | None = Field(None, ge=1, le=MAX_ID)
