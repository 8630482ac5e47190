"""A template's prompts: typed values asked for at launch, and the one check that every way
of launching (the API, the console, the CLI, schedules, triggers) puts them through.

``validate`` is pure: the caller hands it the choices drawn from the inventory (see
``templates.service.resolve_prompts``, which gathers them)."""

from __future__ import annotations

import importlib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import Field, StrictBool, StringConstraints, field_validator, model_validator

from opsledger.audit.snapshots import MASK
from opsledger.kit.errors import ValidationFailed
from opsledger.kit.schemas import RESERVED_PREFIX, StrictInput

# The parser behind ``re``: how a pattern nests its repetitions, without running it.
_parser: Any = importlib.import_module("re._parser")
_sre: Any = importlib.import_module("re._constants")

MAX_TEXT = 4096
MAX_PATTERN = 200
# A value checked against a pattern is at most this long, so that even the polynomial
# backtracking the rules below allow stays in milliseconds.
MAX_PATTERN_INPUT = 256
# Integers a JSON client (a browser) reads back exactly.
MAX_INTEGER = 2**53
MAX_CHOICES = 200
# A repetition longer than this is "long": what backtracking multiplies.
LONG_REPEAT = 16
MAX_LONG_REPEATS = 4

PromptName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
]
Choice = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Bound = Annotated[int, Field(ge=-MAX_INTEGER, le=MAX_INTEGER)]


class PromptType(StrEnum):
    text = "text"
    integer = "integer"
    boolean = "boolean"
    choice = "choice"
    multi_choice = "multi_choice"
    secret = "secret"  # noqa: S105 - the name of a kind, not a password


TEXTUAL = frozenset({PromptType.text, PromptType.secret})
CHOOSING = frozenset({PromptType.choice, PromptType.multi_choice})
BOUNDED = frozenset({PromptType.integer, *TEXTUAL, PromptType.multi_choice})

# Where choices may come from besides a static list: host roles' names, the environments
# of active hosts, or the values active hosts have for one tag.
HOST_ROLES = "host_roles"
ENVIRONMENTS = "environments"
TAG_SOURCE = "tag:"
ChoicesFrom = Annotated[
    str, StringConstraints(max_length=204, pattern=r"^(host_roles|environments|tag:[^\x00]+)$")
]


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is refused, or None. Besides not compiling: what can take
    exponential time to fail a match — a long repetition holding another repetition or
    an alternation (``(a+)+``, ``(a|ab)*``), backreferences — and more than
    MAX_LONG_REPEATS long repetitions (``a*a*a*a*a*b``: polynomial, but steeply)."""
    try:
        re.compile(pattern)
        parsed = _parser.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"is not a valid regular expression ({exc})"
    long_repeats = 0
    pending: list[tuple[Any, bool]] = [(parsed, False)]
    while pending:
        items, inside_long = pending.pop()
        for op, argument in items:
            if op in (_sre.GROUPREF, _sre.GROUPREF_EXISTS):
                return "may not use backreferences"
            if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT):
                _low, high, body = argument
                if inside_long and high > 1:
                    return "may not nest a repetition inside a repetition, as (a+)+ does"
                long = high > LONG_REPEAT
                long_repeats += long
                pending.append((body, inside_long or long))
            elif op is _sre.BRANCH:
                if inside_long:
                    return "may not repeat an alternation, as (a|ab)* does"
                pending.extend((branch, inside_long) for branch in argument[1])
            elif op is _sre.SUBPATTERN:
                pending.append((argument[3], inside_long))
            elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
                pending.append((argument[1], inside_long))
            elif op is _sre.ATOMIC_GROUP:
                pending.append((argument, inside_long))
    if long_repeats > MAX_LONG_REPEATS:
        return f"may hold at most {MAX_LONG_REPEATS} unbounded repetitions (*, +, {{n,}})"
    return None


class Refused(ValueError):
    """One value refused: ``kind`` is the error type a client sees (pydantic's names)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Prompt(StrictInput):
    """A value asked for at launch, passed to the playbook as the variable ``name``."""

    name: PromptName
    label: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    type: PromptType
    required: StrictBool = False
    default: Any = Field(
        None, description="Used when no value is given; secret prompts may not have one."
    )
    min: Bound | None = Field(
        None,
        description="integer: the least value; text, secret: the least length; "
        "multi_choice: the fewest choices.",
    )
    max: Bound | None = Field(None, description="The most, as for `min`.")
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATTERN)] | None = Field(
        None,
        description="text, secret: a Python regular expression the whole value must "
        "match (values of at most 256 characters). Refused when saved: nested or "
        "alternating repetition, (a+)+ or (a|b)*, backreferences, more than 4 "
        "unbounded repetitions.",
    )
    choices: Annotated[list[Choice], Field(min_length=1, max_length=MAX_CHOICES)] | None = None
    choices_from: ChoicesFrom | None = Field(
        None,
        description="choice, multi_choice: `host_roles`, `environments` or `tag:<key>`, "
        "drawn from the inventory (active hosts) when a value is checked.",
    )

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        # A prompt's value becomes a variable of that name: the same rule as variables.
        if name.startswith(RESERVED_PREFIX):
            raise ValueError(f"may not start with {RESERVED_PREFIX}: that is the host record's")
        return name

    @field_validator("pattern")
    @classmethod
    def _safe_pattern(cls, pattern: str | None) -> str | None:
        problem = None if pattern is None else pattern_problem(pattern)
        if problem is not None:
            raise ValueError(f"the pattern {problem}")
        return pattern

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        kind = self.type
        if (self.min is not None or self.max is not None) and kind not in BOUNDED:
            raise ValueError(f"min and max do not apply to {kind} prompts")
        if kind is not PromptType.integer:
            ceiling = MAX_CHOICES if kind is PromptType.multi_choice else MAX_TEXT
            for bound in (self.min, self.max):
                if bound is not None and not 0 <= bound <= ceiling:
                    raise ValueError(f"min and max of a {kind} prompt lie in 0 to {ceiling}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min may not exceed max")
        if self.pattern is not None and kind not in TEXTUAL:
            raise ValueError(f"a pattern does not apply to {kind} prompts")
        if kind in CHOOSING:
            if (self.choices is None) == (self.choices_from is None):
                raise ValueError(f"a {kind} prompt needs exactly one of choices and choices_from")
        elif self.choices is not None or self.choices_from is not None:
            raise ValueError(f"choices do not apply to {kind} prompts")
        if self.choices is not None and len(set(self.choices)) != len(self.choices):
            raise ValueError("choices must differ from each other")
        if self.default is not None:
            if kind is PromptType.secret:
                raise ValueError("a secret prompt may not have a default: it would be stored")
            try:
                # Inventory choices are not known here: they are checked at launch.
                self.default = check(self, self.default, self.choices)
            except Refused as refused:
                raise ValueError(f"default: {refused.message}") from None
        return self


def _choices_text(choices: Collection[str]) -> str:
    if len(choices) > 10:
        return f"one of the {len(choices)} choices"
    return "one of: " + ", ".join(choices)


def _check_length(prompt: Prompt, length: int, unit: str, low: str, high: str) -> None:
    if prompt.min is not None and length < prompt.min:
        raise Refused(low, f"must have at least {prompt.min} {unit}")
    if prompt.max is not None and length > prompt.max:
        raise Refused(high, f"must have at most {prompt.max} {unit}")


def check(prompt: Prompt, value: Any, choices: Collection[str] | None) -> Any:
    """``value`` if it is a valid value of ``prompt``, else Refused. ``choices`` are the
    allowed choices (None: not known yet, any)."""
    kind = prompt.type
    if kind in TEXTUAL:
        if not isinstance(value, str):
            raise Refused("string_type", "must be text")
        if len(value) > MAX_TEXT:
            raise Refused("string_too_long", f"must have at most {MAX_TEXT} characters")
        _check_length(prompt, len(value), "characters", "string_too_short", "string_too_long")
        if prompt.pattern is not None:
            if len(value) > MAX_PATTERN_INPUT:
                raise Refused(
                    "string_too_long",
                    f"must have at most {MAX_PATTERN_INPUT} characters to match a pattern",
                )
            if re.fullmatch(prompt.pattern, value) is None:
                raise Refused("string_pattern_mismatch", f"must match {prompt.pattern}")
        return value
    if kind is PromptType.integer:
        if type(value) is not int:
            raise Refused("int_type", "must be an integer")
        if abs(value) > MAX_INTEGER:
            raise Refused("less_than_equal", f"must lie within ±{MAX_INTEGER}")
        if prompt.min is not None and value < prompt.min:
            raise Refused("greater_than_equal", f"must be at least {prompt.min}")
        if prompt.max is not None and value > prompt.max:
            raise Refused("less_than_equal", f"must be at most {prompt.max}")
        return value
    if kind is PromptType.boolean:
        if not isinstance(value, bool):
            raise Refused("bool_type", "must be true or false")
        return value
    if kind is PromptType.choice:
        if not isinstance(value, str) or (choices is not None and value not in choices):
            raise Refused("enum", f"must be {_choices_text(choices or ())}")
        return value
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Refused("list_type", "must be a list of choices")
    if len(set(value)) != len(value):
        raise Refused("value_error", "may name each choice once")
    if choices is not None and any(item not in choices for item in value):
        raise Refused("enum", f"each must be {_choices_text(choices)}")
    _check_length(prompt, len(value), "choices", "too_short", "too_long")
    return list(value)


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_INTEGER = re.compile(r"[-+]?[0-9]{1,17}")


def _from_text(prompt: Prompt, value: Any) -> Any:
    """A form field's or a command line's text as the prompt's type; what does not read as
    that type is left for ``check`` to refuse."""
    if not isinstance(value, str):
        return value
    if prompt.type is PromptType.integer and _INTEGER.fullmatch(value.strip()):
        return int(value)
    if prompt.type is PromptType.boolean and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if prompt.type is PromptType.multi_choice:
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _given(value: Any) -> bool:
    return value is not None and value != "" and value != []


@dataclass(frozen=True)
class PromptValues:
    """The values a launch resolved, by prompt name: only prompts that have one (given or
    default); secrets in the clear, named by ``secret_names`` so the caller can encrypt
    them at rest (``secrets()``) and show them masked (``masked()``)."""

    values: Mapping[str, Any]
    secret_names: frozenset[str]

    def public(self) -> dict[str, Any]:
        """Every value but the secrets: what may be stored and shown as is."""
        return {name: v for name, v in self.values.items() if name not in self.secret_names}

    def secrets(self) -> dict[str, str]:
        return {name: v for name, v in self.values.items() if name in self.secret_names}

    def masked(self) -> dict[str, Any]:
        """Every value, each secret replaced by the audit trail's mask."""
        return mask(self.values, self.secret_names)


def secret_names(prompts: Sequence[Prompt]) -> frozenset[str]:
    return frozenset(prompt.name for prompt in prompts if prompt.type is PromptType.secret)


def mask(values: Mapping[str, Any], secrets: Collection[str]) -> dict[str, Any]:
    """``values`` (prompt values, or variables they were merged into) with the value of
    every name in ``secrets`` replaced by ``********``."""
    return {name: MASK if name in secrets else value for name, value in values.items()}


def inventory_sources(prompts: Sequence[Prompt]) -> set[str]:
    """The inventory choices ``validate`` will need for ``prompts``."""
    return {prompt.choices_from for prompt in prompts if prompt.choices_from is not None}


def validate(
    prompts: Sequence[Prompt],
    values: Mapping[str, Any],
    inventory: Mapping[str, Collection[str]] | None = None,
    *,
    loc: Sequence[str | int] = ("body", "prompts"),
    from_text: bool = False,
) -> PromptValues:
    """The values of ``prompts`` a launch resolves from ``values`` (what was sent, by
    prompt name): each checked against its prompt, a default filling what was not given
    (absent, null, "" or []). Every refused value is reported at once, as a 422 whose
    errors name each at ``[*loc, <prompt name>]``.

    ``inventory`` maps each of ``inventory_sources(prompts)`` to its choices now.
    ``from_text``: values are a form's or command line's text ("42", "yes", "a,b")."""
    by_name = {prompt.name: prompt for prompt in prompts}
    errors: list[dict[str, Any]] = []

    def refuse(name: str, kind: str, message: str) -> None:
        errors.append({"loc": [*loc, name], "msg": message, "type": kind})

    for name in values:
        if name not in by_name:
            refuse(str(name), "extra_forbidden", "is not a prompt of this template")
    resolved: dict[str, Any] = {}
    for prompt in prompts:
        value = values.get(prompt.name)
        if from_text:
            value = _from_text(prompt, value)
        if not _given(value):
            value = prompt.default
        if not _given(value):
            if prompt.required:
                refuse(prompt.name, "missing", "a value is required")
            continue
        choices: Collection[str] | None = prompt.choices
        if prompt.choices_from is not None:
            choices = (inventory or {}).get(prompt.choices_from, ())
        try:
            resolved[prompt.name] = check(prompt, value, choices)
        except Refused as refused:
            refuse(prompt.name, refused.kind, refused.message)
    if errors:
        detail = "; ".join(f"prompt {e['loc'][-1]}: {e['msg']}" for e in errors)
        raise ValidationFailed(detail, errors)
    return PromptValues(resolved, secret_names(prompts))
