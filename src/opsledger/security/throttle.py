"""Failed-login limits per username and per client address, kept in process memory.

An admin's unlock is the one part that must reach every process: it is a time stored
on the user (``login_unlocked_at``), before which that user's failures stop counting."""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict, deque
from datetime import UTC, datetime

from opsledger.config import Settings

# Bounded so that a flood of random usernames cannot grow memory without limit.
MAX_TRACKED_KEYS = 100_000


class FailureWindow:
    """Counts failures per key over a sliding window; the oldest keys are forgotten first."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, key: str, since: datetime | None = None) -> int:
        """Seconds until ``key`` may try again; 0 when it may try now. Failures before
        ``since`` (an admin's unlock, recorded in the database) do not count."""
        now = time.monotonic()
        failures = self._recent(key, now)
        if since is not None:
            cutoff = now - (datetime.now(UTC) - since).total_seconds()
            failures = deque(moment for moment in failures if moment > cutoff)
        if len(failures) < self.limit:
            return 0
        return max(1, math.ceil(failures[-self.limit] + self.window - now))

    def fail(self, key: str) -> None:
        now = time.monotonic()
        failures = self._recent(key, now)
        failures.append(now)
        self._failures[key] = failures
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_TRACKED_KEYS:
            self._failures.popitem(last=False)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def refund(self, key: str) -> None:
        """Take back the latest failure of ``key`` (an attempt that turned out well)."""
        failures = self._failures.get(key)
        if failures:
            failures.pop()


class LoginThrottle:
    """Failed sign-ins per username and per client address, and, apart from them, wrong
    passwords typed again by a signed-in user (to change it, reveal a secret, download a
    backup) per user: guesses through a stolen session are bounded as a sign-in's are, and
    a stranger failing sign-ins in someone's name cannot keep them from those forms."""

    def __init__(self, per_user: int, per_address: int, window_seconds: float) -> None:
        self.users = FailureWindow(per_user, window_seconds)
        self.addresses = FailureWindow(per_address, window_seconds)
        self.confirmations = FailureWindow(per_user, window_seconds)

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginThrottle:
        return cls(
            settings.login_max_failures,
            settings.login_max_failures_per_ip,
            settings.login_window_seconds,
        )

    def retry_after(self, username: str, address: str, unlocked: datetime | None = None) -> int:
        """For a canonical username; ``unlocked``: when an admin last cleared its limit."""
        return max(
            self.users.retry_after(username, unlocked),
            self.addresses.retry_after(_client(address)),
        )

    def attempt(self, username: str, address: str) -> None:
        """Count an attempt as failed before it is checked: the check awaits bcrypt, and
        racing attempts that all saw room under the limit were all evaluated (31 of 300
        concurrent ones on PostgreSQL, for a limit of 5)."""
        self.users.fail(username)
        self.addresses.fail(_client(address))

    def succeeded(self, username: str, address: str) -> None:
        self.users.clear(username)
        self.addresses.refund(_client(address))


def _client(address: str) -> str:
    """Who an address counts as: an IPv6 client usually holds a whole /64, and would
    otherwise get a fresh budget from each of its addresses."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
