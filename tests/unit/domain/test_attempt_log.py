"""The attempt log's bound: never more than MAX_ATTEMPTS_KEPT entries, the newest kept, numbered
from the order's first attempt whoever made it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.domain.attempt_log import (
    MAX_ATTEMPTS_KEPT,
    Actor,
    Attempt,
    TransportFailureKind,
    appended,
    new_attempt,
)

answers = st.one_of(
    st.integers(min_value=100, max_value=599).map(lambda s: (s, None)),
    st.sampled_from(TransportFailureKind.ALL).map(lambda f: (None, f)),
)
attempts = st.tuples(st.sampled_from(Actor.ALL), answers, st.floats(0, 60))


@given(st.lists(attempts, max_size=40), st.integers(min_value=1, max_value=12))
def test_never_more_than_the_bound_and_the_newest_kept(steps, limit) -> None:
    log: tuple[Attempt, ...] = ()
    for i, (actor, (status, failure), latency) in enumerate(steps):
        entry = new_attempt(
            log,
            at=1_700_000_000.0 + i,
            actor=actor,
            status_code=status,
            failure=failure,
            latency_seconds=latency,
        )
        log = appended(log, entry, limit)
        assert len(log) <= limit
        assert log[-1] == entry  # the newest is always kept, last
        assert [a.number for a in log] == list(range(i + 2 - len(log), i + 2))
    assert len(log) == min(len(steps), limit)


def test_the_default_bound_is_ten() -> None:
    assert MAX_ATTEMPTS_KEPT == 10
    log: tuple[Attempt, ...] = ()
    for i in range(25):
        log = appended(
            log,
            new_attempt(
                log,
                at=float(i),
                actor=Actor.POLLER,
                status_code=503,
                failure=None,
                latency_seconds=0.1,
            ),
        )
    assert [a.number for a in log] == list(range(16, 26))


def test_an_entry_has_either_a_status_or_a_failure_kind() -> None:
    answered = new_attempt(
        (), at=1.0, actor=Actor.SWEEPER, status_code=200, failure="timeout", latency_seconds=0.25
    )
    assert (answered.status_code, answered.failure, answered.latency_ms) == (200, None, 250)
    assert answered.answer == "HTTP 200"
    silent = new_attempt(
        (), at=1.0, actor=Actor.OPERATOR, status_code=None, failure=None, latency_seconds=3
    )
    assert silent.failure == TransportFailureKind.CONNECTION
    assert silent.answer == "connection"


def test_an_unknown_actor_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown actor"):
        new_attempt((), at=1.0, actor="cron", status_code=200, failure=None, latency_seconds=0)
