"""Prompts: each type's values checked by the one validator, defaults and required values,
choices drawn from the inventory, secrets told apart and masked, patterns that could take
exponential time refused when saved."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from opsledger.hosts.models import HostStatus
from opsledger.kit.errors import ValidationFailed
from opsledger.templates import service
from opsledger.templates.prompts import MAX_INTEGER, Prompt, mask, pattern_problem, validate
from tests import factories as f


def prompt(**fields: Any) -> Prompt:
    return Prompt.model_validate({"name": "p"} | fields)


def refusal(prompts: list[Prompt], values: dict[str, Any], **options: Any) -> list[Any]:
    """(loc, type) of each refused value."""
    with pytest.raises(ValidationFailed) as refused:
        validate(prompts, values, **options)
    assert refused.value.status == 422
    return [(error["loc"], error["type"]) for error in refused.value.errors or []]


# (prompt definition, accepted values, refused values with the error type each gets)
CASES: dict[str, tuple[dict[str, Any], list[Any], list[tuple[Any, str]]]] = {
    "text": (
        {"type": "text", "min": 2, "max": 5},
        ["ab", "abcde", "日本"],
        [(7, "string_type"), ("a", "string_too_short"), ("abcdef", "string_too_long")],
    ),
    "text with a pattern": (
        {"type": "text", "pattern": r"v\d+\.\d+"},
        ["v1.2", "v10.20"],
        [("1.2", "string_pattern_mismatch"), ("v1.2 ", "string_pattern_mismatch")],
    ),
    "integer": (
        {"type": "integer", "min": -3, "max": 10},
        [-3, 0, 10],
        [
            (-4, "greater_than_equal"),
            (11, "less_than_equal"),
            ("5", "int_type"),
            (5.0, "int_type"),
            (True, "int_type"),
        ],
    ),
    "boolean": (
        {"type": "boolean"},
        [True, False],
        [("true", "bool_type"), (1, "bool_type")],
    ),
    "choice": (
        {"type": "choice", "choices": ["blue", "green"]},
        ["blue", "green"],
        [("red", "enum"), (["blue"], "enum"), (1, "enum")],
    ),
    "multi_choice": (
        {"type": "multi_choice", "choices": ["a", "b", "c"], "min": 1, "max": 2},
        [["a"], ["c", "a"]],
        [
            (["a", "b", "c"], "too_long"),
            (["d"], "enum"),
            (["a", "a"], "value_error"),
            ("a", "list_type"),
            ([1], "list_type"),
        ],
    ),
    "secret": (
        {"type": "secret", "min": 8, "pattern": r"[^\s]+"},
        ["s3cr3t-value"],
        [("short", "string_too_short"), ("has spaces in", "string_pattern_mismatch")],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_each_type_takes_its_values_and_names_the_prompt_that_refuses_one(case: str) -> None:
    definition, good, bad = CASES[case]
    prompts = [prompt(name="answer", **definition)]
    for value in good:
        assert validate(prompts, {"answer": value}).values == {"answer": value}
    for value, kind in bad:
        assert refusal(prompts, {"answer": value}) == [(["body", "prompts", "answer"], kind)]


def test_every_refused_value_is_reported_at_once_and_unknown_names_are_refused() -> None:
    prompts = [
        prompt(name="version", type="text", required=True),
        prompt(name="count", type="integer", max=3),
        prompt(name="fine", type="boolean"),
    ]
    assert refusal(prompts, {"count": 9, "colour": "red", "fine": True}) == [
        (["body", "prompts", "colour"], "extra_forbidden"),
        (["body", "prompts", "version"], "missing"),
        (["body", "prompts", "count"], "less_than_equal"),
    ]
    with pytest.raises(ValidationFailed) as refused:
        validate(prompts, {"version": ""}, loc=("form",))
    assert refused.value.errors == [
        {"loc": ["form", "version"], "msg": "a value is required", "type": "missing"}
    ]
    assert "version" in refused.value.detail


def test_defaults_fill_what_was_not_given_and_optional_prompts_may_stay_empty() -> None:
    prompts = [
        prompt(name="version", type="text", default="1.0"),
        prompt(name="count", type="integer", default=2, required=True),
        prompt(name="colours", type="multi_choice", choices=["r", "g"], default=["g"]),
        prompt(name="note", type="text"),
        prompt(name="dry", type="boolean", default=True),
    ]
    resolved = validate(prompts, {"version": None, "colours": [], "note": "", "dry": False})
    assert resolved.values == {"version": "1.0", "count": 2, "colours": ["g"], "dry": False}


def test_values_typed_in_a_form_or_a_command_line_are_read_as_their_type() -> None:
    prompts = [
        prompt(name="count", type="integer", min=0),
        prompt(name="dry", type="boolean"),
        prompt(name="zones", type="multi_choice", choices=["a", "b"]),
        prompt(name="label", type="text"),
        prompt(name="optional", type="integer"),
    ]
    text = {"count": "12", "dry": "yes", "zones": "a, b", "label": "007", "optional": ""}
    resolved = validate(prompts, text, from_text=True)
    assert resolved.values == {"count": 12, "dry": True, "zones": ["a", "b"], "label": "007"}
    assert refusal(prompts, {"count": "twelve", "dry": "maybe"}, from_text=True) == [
        (["body", "prompts", "count"], "int_type"),
        (["body", "prompts", "dry"], "bool_type"),
    ]
    # The API's JSON is taken as typed: "12" is not an integer there.
    assert refusal(prompts, {"count": "12"}) == [(["body", "prompts", "count"], "int_type")]


def test_secret_values_are_told_apart_and_masked() -> None:
    prompts = [
        prompt(name="token", type="secret", required=True),
        prompt(name="region", type="choice", choices=["eu", "us"]),
    ]
    resolved = validate(prompts, {"token": "hunter2", "region": "eu"})

    assert resolved.values == {"token": "hunter2", "region": "eu"}
    assert resolved.secret_names == {"token"}
    assert resolved.secrets() == {"token": "hunter2"}
    assert resolved.public() == {"region": "eu"}
    assert resolved.masked() == {"token": "********", "region": "eu"}
    merged = {"token": "hunter2", "region": "eu", "reboot": True}
    assert mask(merged, resolved.secret_names) == {
        "token": "********",
        "region": "eu",
        "reboot": True,
    }


def test_a_refused_secret_is_named_but_never_echoed() -> None:
    prompts = [prompt(name="token", type="secret", pattern="[a-z]+")]
    with pytest.raises(ValidationFailed) as refused:
        validate(prompts, {"token": "NOT-LOWER-9"})
    assert "NOT-LOWER-9" not in str(refused.value.errors)
    assert "NOT-LOWER-9" not in refused.value.detail


BAD_DEFINITIONS = {
    "secret with a default": {"type": "secret", "default": "x"},
    "min above max": {"type": "integer", "min": 5, "max": 1},
    "bounds on a boolean": {"type": "boolean", "min": 1},
    "negative length": {"type": "text", "min": -1},
    "pattern on an integer": {"type": "integer", "pattern": "[0-9]+"},
    "choices on text": {"type": "text", "choices": ["a"]},
    "both choices and a source": {
        "type": "choice",
        "choices": ["a"],
        "choices_from": "environments",
    },
    "repeated choices": {"type": "choice", "choices": ["a", "a"]},
    "default of the wrong type": {"type": "integer", "default": "3"},
    "default not a choice": {"type": "choice", "choices": ["a"], "default": "b"},
    "default not matching": {"type": "text", "pattern": "[a-z]+", "default": "ABC"},
    "name not an identifier": {"type": "text", "name": "two words"},
    "reserved name": {"type": "text", "name": "ansible_become_password"},
    "unknown type": {"type": "date"},
    "unknown field": {"type": "text", "placeholder": "x"},
    "integer bound too large": {"type": "integer", "max": MAX_INTEGER + 1},
}


@pytest.mark.parametrize("case", BAD_DEFINITIONS)
def test_a_prompt_that_could_never_be_answered_well_is_refused_when_saved(case: str) -> None:
    with pytest.raises(ValidationError):
        prompt(**BAD_DEFINITIONS[case])


@pytest.mark.parametrize(
    "pattern",
    [
        "(a+)+$",
        "(a*)*b",
        r"(\w+\s?)+$",
        "(a|aa)*c",
        "(x+x+)+y",
        r"(a)\1",
        r"(?P<x>a)(?(x)b|c)",
        "a*a*a*a*a*b",
        "(",
        "[z-a]",
        "a{2,1}",
    ],
)
def test_patterns_that_may_backtrack_exponentially_or_do_not_compile_are_refused(
    pattern: str,
) -> None:
    assert pattern_problem(pattern) is not None
    with pytest.raises(ValidationError):
        prompt(type="text", pattern=pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        r"v\d+\.\d+\.\d+",
        r"[a-z][a-z0-9-]{0,62}",
        r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}",
        r"(prod|staging)-[0-9]+",
        r"[^@\s]+@[^@\s]+",
        r"(?=.*\d).+",
    ],
)
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    assert pattern_problem(pattern) is None


def test_a_value_checked_against_a_pattern_is_bounded() -> None:
    prompts = [prompt(name="v", type="text", pattern="[a-z]*")]
    assert validate(prompts, {"v": "a" * 256}).values == {"v": "a" * 256}
    assert refusal(prompts, {"v": "a" * 257}) == [(["body", "prompts", "v"], "string_too_long")]


@given(
    low=st.integers(-1000, 1000),
    span=st.integers(0, 1000),
    value=st.one_of(st.integers(-3000, 3000), st.booleans(), st.text(max_size=3), st.none()),
)
def test_an_integer_is_taken_exactly_when_it_is_an_integer_within_bounds(
    low: int, span: int, value: Any
) -> None:
    prompts = [prompt(name="n", type="integer", min=low, max=low + span)]
    not_given = value is None or value == ""
    accepted = type(value) is int and low <= value <= low + span
    try:
        answer: dict[str, Any] | None = dict(validate(prompts, {"n": value}).values)
    except ValidationFailed:
        answer = None
    if not_given:
        assert answer == {}
    else:
        assert answer == ({"n": value} if accepted else None)


@given(
    values=st.dictionaries(
        st.sampled_from(["a", "b", "c", "x"]),
        st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.none()),
    )
)
def test_the_validator_answers_values_or_a_422_never_anything_else(
    values: dict[str, Any],
) -> None:
    prompts = [
        prompt(name="a", type="text", max=3, pattern="[a-z]*"),
        prompt(name="b", type="integer", required=True, default=1),
        prompt(name="c", type="choice", choices=["x", "y"]),
    ]
    try:
        resolved: dict[str, Any] = dict(validate(prompts, values).values)
        errors: list[dict[str, Any]] = []
    except ValidationFailed as refused:
        resolved, errors = {}, refused.errors or []
    if errors:
        assert all(error["loc"][:2] == ["body", "prompts"] for error in errors)
    else:
        assert set(resolved) <= {"a", "b", "c"}
        assert "b" in resolved


async def test_choices_are_drawn_from_the_inventory_when_a_value_is_checked(
    session: AsyncSession,
) -> None:
    role = await f.make_role(session)
    environment = f.unique("env")
    rack = f.unique("rack")
    await f.make_host(session, environment=environment, tags={rack: "r1"})
    await f.make_host(session, environment=environment, tags={rack: 7})
    await f.make_host(session, tags={rack: "gone"}, is_active=False)
    await f.make_host(session, tags={rack: "old"}, status=HostStatus.decommissioned)
    prompts = [
        prompt(name="role", type="choice", choices_from="host_roles"),
        prompt(name="env", type="choice", choices_from="environments"),
        prompt(name="racks", type="multi_choice", choices_from=f"tag:{rack}"),
    ]

    choices = await service.inventory_choices(session, prompts)
    resolved = await service.resolve_prompts(
        session, prompts, {"role": role.name, "env": environment, "racks": ["7", "r1"]}
    )
    with pytest.raises(ValidationFailed) as refused:
        await service.resolve_prompts(
            session, prompts, {"role": "nope", "env": "nowhere", "racks": ["gone", "old"]}
        )

    assert role.name in choices["host_roles"]
    assert environment in choices["environments"]
    assert choices[f"tag:{rack}"] == ["7", "r1"]
    assert resolved.values == {"role": role.name, "env": environment, "racks": ["7", "r1"]}
    assert [(e["loc"][-1], e["type"]) for e in refused.value.errors or []] == [
        ("role", "enum"),
        ("env", "enum"),
        ("racks", "enum"),
    ]


async def test_an_inventory_default_is_checked_against_the_inventory_at_launch(
    session: AsyncSession,
) -> None:
    environment = f.unique("env")
    await f.make_host(session, environment=environment)
    prompts = [
        prompt(name="env", type="choice", choices_from="environments", default=environment),
        prompt(name="later", type="choice", choices_from="environments", default="retired"),
    ]
    with pytest.raises(ValidationFailed) as refused:
        await service.resolve_prompts(session, prompts, {})
    assert [e["loc"][-1] for e in refused.value.errors or []] == ["later"]
    resolved = await service.resolve_prompts(session, prompts, {"later": environment})
    assert resolved.values == {"env": environment, "later": environment}
