"""Periodic work a domain declares and the runtime repeats (retention now; schedules and
notification delivery later): the domain says what and how often, the worker when."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from opsledger.config import Settings

log = logging.getLogger(__name__)


class Nudge:
    """Set by this process when it has written work for a periodic task (a delivery
    committed): the runtime starts the task at its next tick instead of waiting out its
    interval. Work other processes write waits for the interval."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def clear(self) -> None:
        self._set = False


@dataclass(frozen=True)
class Periodic:
    """``run`` every ``every(settings)`` seconds (0: not at all), the first time
    ``first_delay`` seconds after the runtime starts, and sooner when its ``nudge`` is
    set. A run that is still going when the next is due is not started twice."""

    name: str
    every: Callable[[Settings], float]
    first_delay: float
    run: Callable[[AsyncEngine, Settings], Coroutine[Any, Any, object]]
    nudge: Nudge | None = None

    async def guarded(self, engine: AsyncEngine, settings: Settings) -> object:
        """One pass. A failure the next pass may not meet (the database or the network
        away) is logged and the next pass tries again: what this one left stays due."""
        try:
            return await self.run(engine, settings)
        except (SQLAlchemyError, OSError):
            log.exception("%s: this pass failed; the next one tries again", self.name)
            return None
