"""The dependencies the poller and the sweeper share, as runtime.py wires them (in-process moto)."""

from __future__ import annotations


def test_the_shared_deps_count_unfinished_orders_for_the_sweeper(world):
    deps = world.runtime.relay.d
    now = world.clock.now
    assert deps.unfinished_between is not None
    assert deps.unfinished_between(now - 3600, now) == 0
    deps.ledger.touch("recent", now - 10, None, now)
    deps.ledger.touch("long-ago", now - 7200, None, now)
    assert deps.unfinished_between(now - 3600, now) == 1
    assert deps.unfinished_between(now - 3600, now) == 1  # the query adapter, kept, again
