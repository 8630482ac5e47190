"""Reading what a console form sends: YAML documents typed into a text area, lists typed
as comma-separated text or a line each, and a service's refusal turned into messages by
field."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import yaml
from fastapi import Form, Query
from pydantic import BaseModel, Field
from yaml.nodes import Node

from opsledger.kit import yaml_documents
from opsledger.kit.errors import ValidationFailed
from opsledger.kit.schemas import MAX_ID

# What many forms send: the session's CSRF token, and the password typed again before
# something shown once (a secret's value) or taken away whole (a backup).
Csrf = Annotated[str, Form(max_length=200)]
Password = Annotated[str, Form(max_length=1000)]
# A create form's box that makes the new thing paused (disabled): left blank, as a post
# without it, the thing starts at once, as the API's default.
Paused = Annotated[bool, Form()]
# A row id a page's link names in its query: the cursor of an "older" link, or the host
# or template a form starts from.
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
# How many entries a form's list of choices offers (playbooks, hosts, roles, catalogue).
CHOICES = 500


def id_of(text: object) -> int:
    """The row id a form field or link names; 0, which no row has, for anything else
    (ASCII digits only, bounded before they are read: Python refuses to read an integer
    of more than 4,300 digits)."""
    if not isinstance(text, str) or not (text.isascii() and text.isdigit()) or len(text) > 19:
        return 0
    number = int(text)
    return number if number <= MAX_ID else 0


class Typed(BaseModel):
    """A console form as typed, its fields as text, with the session's form token."""

    csrf_token: str = Field("", max_length=200)

    def sent(self) -> dict[str, str]:
        """What was typed, to show the form again."""
        return self.model_dump(exclude={"csrf_token"})


class _PlainLoader(yaml_documents.BoundedLoader):
    """YAML that reads as JSON would: dates stay text, and aliases are refused (a few
    hundred bytes of them can expand to millions of nodes)."""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            raise yaml_documents.Refused("YAML aliases (*name) are not accepted")
        return super().compose_node(parent, index)


_PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


# What a document typed into a form must be: a mapping or a list.
Shape = type[dict[str, Any]] | type[list[Any]]


def plain_document(text: str, what: str, kind: Shape) -> Any:
    """A YAML or JSON ``kind`` (mapping or list) of plain values, or None for blank text;
    ValueError says what is wrong, naming ``what``. Run it off the event loop: a large
    document takes a while."""
    if not text.strip():
        return None
    parsed = yaml_documents.load(text, _PlainLoader)
    if not isinstance(parsed, kind):
        shape = "a mapping of names to values" if kind is dict else "a list"
        raise ValueError(f"{what} must be {shape}")
    try:
        json.dumps(parsed, allow_nan=False)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be plain values (no sets, binary or NaN)") from None
    return parsed


def as_text(document: Any) -> str:
    """A stored document as the YAML a form shows (and ``plain_document`` reads back)."""
    if not document:
        return ""
    return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


def items(text: str) -> list[str] | None:
    """Comma- or line-separated text as its non-blank items; None when there are none."""
    found = [item.strip() for item in re.split(r"[,\n]", text) if item.strip()]
    return found or None


def lines(text: str) -> list[str] | None:
    """Text as its non-blank lines, for items that may hold commas; None when there are
    none."""
    found = [line.strip() for line in text.splitlines() if line.strip()]
    return found or None


def pairs(text: str, *, lines_only: bool = False) -> dict[str, str] | None:
    """``key=value`` lines (or comma-separated, unless ``lines_only``: values that may
    hold commas) as a mapping; an item without ``=`` has an empty value. None when there
    are none."""
    found = lines(text) if lines_only else items(text)
    return None if found is None else dict(item.partition("=")[::2] for item in found)


def refusal_fields(exc: ValidationFailed) -> dict[str, str]:
    """A service's 422 as messages by form field (the dotted path after ``body``)."""
    if not exc.errors:
        return {"form": exc.detail}
    return {
        ".".join(str(part) for part in error["loc"] if part != "body") or "form": error["msg"]
        for error in exc.errors
    }
