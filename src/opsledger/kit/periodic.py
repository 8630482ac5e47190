"""Periodic work a domain declares and the runtime repeats (retention now; schedules and
notification delivery later): the domain says what and how often, the worker when."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.config import Settings


@dataclass(frozen=True)
class Periodic:
    """``run`` every ``every(settings)`` seconds (0: not at all), the first time
    ``first_delay`` seconds after the runtime starts. A run that is still going when the
    next is due is not started twice."""

    name: str
    every: Callable[[Settings], float]
    first_delay: float
    run: Callable[[AsyncEngine, Settings], Coroutine[Any, Any, object]]
