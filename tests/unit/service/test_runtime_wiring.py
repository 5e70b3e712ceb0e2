"""The dependencies the poller and the sweeper share, as runtime.py wires them (in-process moto)."""

from __future__ import annotations


def test_the_shared_deps_count_unfinished_orders_for_the_sweeper(world):
    deps = world.runtime.relay.deps
    now = world.clock.now
    assert deps.unfinished_between is not None
    assert deps.unfinished_between(now - 3600, now) == 0
    deps.ledger.touch("recent", sent_at=now - 10, storefront_ref=None, now=now)
    deps.ledger.touch("long-ago", sent_at=now - 7200, storefront_ref=None, now=now)
    assert deps.unfinished_between(now - 3600, now) == 1
    assert deps.unfinished_between(now - 3600, now) == 1  # the query adapter, kept, again
