"""The two-tier page cadence: within the request rate, every page within reach read in time."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.domain.page_cadence import Cadence, plan_cadence

masses = st.lists(st.floats(0, 1), min_size=1, max_size=40)
rates = st.floats(0.05, 5)
spans = st.floats(1.0, 2000.0)


@given(masses, rates, st.floats(1, 5), st.floats(1, 3), st.floats(1, 3), spans)
@settings(max_examples=200, deadline=None)
def test_within_the_rate_and_every_planned_page_within_max_gap(
    mass, rate, min_interval, interval_factor, gap_factor, span
):
    max_interval = min_interval * interval_factor
    max_gap = max_interval * gap_factor
    cadence = plan_cadence(mass, rate, min_interval, max_interval, max_gap, span)
    assert 1 <= cadence.young <= cadence.pages <= len(mass)
    assert cadence.requests_per_second <= rate + 1e-9
    if max_interval * rate >= 1:  # one page every max_interval fits the rate
        assert min_interval <= cadence.interval <= max_interval + 1e-9
        assert cadence.longest_gap <= max_gap + 1e-9
    else:  # it does not: one page, as often as the rate allows
        assert (cadence.pages, cadence.interval) == (1, pytest.approx(1 / rate))


@given(
    st.integers(1, 6),
    st.integers(0, 30),
    st.integers(1, 10),
    st.floats(0.0, 0.95),
    st.integers(0, 60),
    st.floats(0, 1),
)
@settings(max_examples=300, deadline=None)
def test_an_order_drifting_down_the_list_is_read_at_least_once_a_cycle(
    young, older, chunk, drift_share, start_sweep, offset
):
    """The chunk moves towards the deep end faster than orders drift, so an order cannot pass
    it unread: while an order stays within the pages, no `cycle` consecutive sweeps miss it."""
    chunk = min(chunk, older) if older else 0
    drift = drift_share * chunk if chunk < older else drift_share
    if older and chunk < older and chunk <= drift:
        return
    cadence = Cadence(10.0, young, young + older, chunk, drift)
    first = None
    reads: list[tuple[int, int]] = []
    for _ in range(start_sweep + 1):
        first, last = cadence.next_chunk(first)
        reads.append((first, last))
        if first == 0:
            first = None
    # an order at a (fractional) position, 0-based: page = floor(position) + 1
    position = young + offset * older
    missed = 0
    sweep = start_sweep
    prev_first = reads[-1][0] or None
    while position < cadence.pages:
        page = math.floor(position) + 1
        lo, hi = cadence.next_chunk(prev_first)
        prev_first = lo or None
        seen = page <= young or lo <= page <= hi
        missed = 0 if seen else missed + 1
        assert missed < cadence.cycle, (cadence, sweep, position)
        position += cadence.drift
        sweep += 1
        if sweep > start_sweep + 10 * cadence.cycle + 200:
            break


def test_where_orders_end_young_the_young_pages_are_read_every_sweep_the_rest_by_chunk():
    # 20,000 orders/hour: a page spans 18 s; most orders end within two pages
    mass = [0.6, 0.3, 0.05, 0.02] + [0.002] * 12
    cadence = plan_cadence(mass, 1.275, 2.0, 12.0, 20.0, 18.0)
    assert cadence.pages == len(mass)
    assert cadence.young < cadence.pages
    assert cadence.interval < 12.0  # young pages read faster than the configured sweep
    assert cadence.longest_gap <= 20.0


def test_ample_rate_reads_every_page_every_sweep():
    cadence = plan_cadence([0.5, 0.3, 0.2], 10.0, 2.0, 12.0, 20.0, 18.0)
    assert (cadence.pages, cadence.cycle, cadence.interval) == (3, 1, 2.0)
    assert cadence.pages_per_sweep == 3


def test_too_many_pages_for_the_rate_shrink_the_horizon():
    cadence = plan_cadence([0.01] * 60, 1.275, 2.0, 12.0, 20.0, 18.0)
    assert cadence.pages < 60
    assert cadence.requests_per_second <= 1.275 + 1e-9
    assert cadence.longest_gap <= 20.0


def test_the_chunk_starts_at_the_young_end_moves_down_and_wraps():
    cadence = Cadence(4.0, 2, 10, 3, 0.2)
    chunks = []
    first = None
    for _ in range(4):
        lo, hi = cadence.next_chunk(first)
        chunks.append((lo, hi))
        first = lo
    assert chunks == [(3, 5), (6, 8), (9, 10), (3, 5)]
    assert Cadence(4.0, 3, 3).next_chunk(None) == (0, -1)
