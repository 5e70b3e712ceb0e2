"""The sweeper's allowance to poll per order without a token: only while nothing sweeps, the
forecast demand fits well within the key and no 429 came within the hold."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from relay.domain.poll_allowance import (
    HOLD_AFTER_REVOKE_SECONDS,
    LEASE_SECONDS,
    UNMETERED_KEY_SHARE,
    Allowance,
    demand_fits,
    next_allowance,
    revoked,
)

NOW = 1_000_000.0
LIMIT = 6000.0  # requests an hour (100 a minute)
DEMAND = st.one_of(
    st.floats(min_value=0.0, max_value=3 * LIMIT),
    st.sampled_from([math.inf, math.nan, -1.0]),
)
ALLOWANCES = st.builds(
    Allowance,
    st.floats(min_value=0.0, max_value=NOW + 1000.0),
    st.one_of(st.none(), st.floats(min_value=NOW - 2 * HOLD_AFTER_REVOKE_SECONDS, max_value=NOW)),
)


@given(ALLOWANCES, st.booleans(), DEMAND)
def test_granted_only_when_nothing_sweeps_the_demand_fits_and_no_recent_429(
    current, sweeping, demand
):
    after = next_allowance(
        current,
        sweeping=sweeping,
        requests_per_hour=demand,
        requests_per_hour_limit=LIMIT,
        now=NOW,
    )
    recent_429 = (
        current.revoked_at is not None and NOW - current.revoked_at < HOLD_AFTER_REVOKE_SECONDS
    )
    fits = math.isfinite(demand) and 0 <= demand <= UNMETERED_KEY_SHARE * LIMIT
    assert after.unmetered(NOW) == (not sweeping and not recent_429 and fits)
    assert after.revoked_at == current.revoked_at  # a look never forgets a 429
    # A grant is a short lease: it lapses unless the next look renews it.
    assert after.until <= NOW + LEASE_SECONDS
    assert not after.unmetered(NOW + LEASE_SECONDS)


@given(st.floats(min_value=0.0, max_value=HOLD_AFTER_REVOKE_SECONDS * 3))
def test_a_429_ends_the_allowance_and_holds_it_off(later):
    after_429 = revoked(NOW)
    assert not after_429.unmetered(NOW)
    again = next_allowance(
        after_429,
        sweeping=False,
        requests_per_hour=0.0,
        requests_per_hour_limit=LIMIT,
        now=NOW + later,
    )
    assert again.unmetered(NOW + later) == (later >= HOLD_AFTER_REVOKE_SECONDS)


@given(st.floats(min_value=0.0, max_value=10 * LIMIT), st.floats(min_value=0.0, max_value=LIMIT))
def test_demand_fits_is_monotone(demand, more):
    assert demand_fits(demand + more, LIMIT) <= demand_fits(demand, LIMIT)
    assert not demand_fits(demand, 0.0) or demand == 0.0
