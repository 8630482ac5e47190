"""YAML a client sends (a playbook, a launch's variables), read in one pass with its nesting
bounded as a JSON body's is: PyYAML composes nested collections by recursion, so a few KiB
of ``[[[[…`` would otherwise exhaust the interpreter's stack (RecursionError, a 500)."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import MappingStartEvent, SequenceStartEvent
from yaml.nodes import Node

from opsledger.kit.schemas import MAX_DEPTH


class Refused(yaml.YAMLError):
    """A document a loader will not read, for the reason given (not a syntax error)."""


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a collection nested deeper than MAX_DEPTH before it
    recurses into it."""

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if not self.check_event(SequenceStartEvent, MappingStartEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            line = self.current_event.start_mark.line + 1  # the event check_event peeked
            raise Refused(f"YAML may nest at most {MAX_DEPTH} levels deep (line {line})")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def load(text: str | bytes, loader: type[BoundedLoader] = BoundedLoader) -> Any:
    """The document in ``text``; ValueError says what is wrong with it, and on which line."""
    try:
        return yaml.load(text, loader)  # noqa: S506 - a SafeLoader
    except Refused as exc:
        raise ValueError(str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"not valid YAML{where}") from None
