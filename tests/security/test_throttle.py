"""The login throttle's own rules, apart from HTTP."""

from __future__ import annotations

from opsledger.security.throttle import LoginThrottle


def test_an_ipv6_client_counts_as_its_64() -> None:
    throttle = LoginThrottle(per_user=100, per_address=3, window_seconds=900)
    for host in range(3):
        throttle.attempt(f"user{host}", f"2001:db8:1:2::{host + 1}")

    assert throttle.retry_after("other", "2001:db8:1:2:ffff::9") > 0
    assert throttle.retry_after("other", "2001:db8:1:3::1") == 0
    assert throttle.retry_after("other", "192.0.2.1") == 0


def test_a_success_takes_back_its_attempt() -> None:
    throttle = LoginThrottle(per_user=2, per_address=2, window_seconds=900)
    for _ in range(5):
        throttle.attempt("alice", "192.0.2.1")
        throttle.succeeded("alice", "192.0.2.1")

    assert throttle.retry_after("alice", "192.0.2.1") == 0
