"""The probe page: a budget-bound sweep reads one page past its depth now and then, so a tail
the budget keeps it from reaching still shows in the estimate and can pull the depth out."""

from __future__ import annotations

import math
import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from relay.domain.completion_age import (
    BINS,
    LOWER_EDGES,
    CompletionAges,
    bin_of,
    upper_edge,
)
from relay.domain.coverage import SweepConfig
from relay.domain.sweep import (
    ListedOrder,
    SweepState,
    after_sweep,
    chunk_pages,
    next_page_needed,
    observe_first_page,
    observe_page,
    plan_sweep,
    probe_after,
    within_reach,
)

CFG = SweepConfig()
TIGHT = 85 * 0.9 / 60  # the sweeper's share of one 100 requests/minute key
SPP = 9.0  # seconds of creation per page: 40,000 orders an hour


def _slow_supplier(rng: random.Random) -> float:
    """Most orders end at 30-250 s; 4 % end at 400-900 s, past where the budget reads."""
    if rng.random() < 0.04:
        return rng.uniform(400.0, 900.0)
    return rng.uniform(30.0, 250.0)


def _page(number: int, now: float, ends: dict[int, float]) -> list[ListedOrder]:
    """Page `number` of a list with one order created every SPP / 100 s, newest first."""
    out = []
    for k in range(100):
        i = (number - 1) * 100 + k
        created = now - i * SPP / 100
        serial = round(created * 100 / SPP)
        terminal = now - created >= ends[serial]
        out.append(ListedOrder(str(serial), "completed" if terminal else "processing", created))
    return out


def _run(
    config: SweepConfig, sweeps: int, seed: int = 7
) -> tuple[CompletionAges, list[int], float]:
    """Sweep a slow supplier's list for a while with the plans `plan_sweep` makes; the estimate
    at the end, the probe pages read and the age the last plan read to."""
    rng = random.Random(seed)
    ends: dict[int, float] = {}

    def ages_for(now: float) -> None:
        newest = round(now * 100 / SPP)
        for serial in range(newest - 100 * 120, newest + 1):
            if serial not in ends:
                ends[serial] = _slow_supplier(rng)

    state = SweepState()
    estimate = CompletionAges()
    now = 2000.0
    probes = []
    for _ in range(sweeps):
        ages_for(now)
        plan = plan_sweep(state, config, TIGHT, now, estimate)
        read = 1
        page = _page(1, now, ends)
        state = observe_first_page(state, config, page, now)
        estimate = observe_page(estimate, config, page, now)
        while next_page_needed(page, plan, read, now):
            read += 1
            page = _page(read, now, ends)
            estimate = observe_page(estimate, config, page, now)
        for number in chunk_pages(plan, page, now):
            page = _page(number, now, ends)
            estimate = observe_page(estimate, config, page, now)
        last = page
        probe = probe_after(plan, last)
        if probe is not None:
            probes.append(probe)
            estimate = observe_page(estimate, config, _page(probe, now, ends), now)
        state, _ = after_sweep(state, plan, now, last, finished=True)
        now += plan.interval
    return estimate, probes, plan.horizon


def test_a_probe_pulls_the_depth_out_to_a_tail_the_budget_kept_it_from_seeing():
    """Without probes the estimate only knows the ages the sweep reads, so the depth it plans
    for stays short of the 4 % that end at 400-900 s; with them it reads past 400 s."""
    probed, probes, depth_probed = _run(CFG, 60)
    blind, none, depth_blind = _run(replace(CFG, probe_interval=math.inf), 60)
    assert probes and not none
    assert depth_blind < 400.0 < depth_probed
    assert blind.quantile(0.99, CFG.horizon_ceiling) < 400.0
    assert probed.quantile(0.99, CFG.horizon_ceiling) > 600.0
    assert probed.edge() is not None and probed.edge() >= 800.0
    # the probes reached ages the sweep did not read, up to the deadline and not past it
    assert max(probes) * SPP >= 700.0
    assert all((p - 1) * SPP <= CFG.horizon_ceiling for p in probes)


def test_probes_are_at_most_one_per_probe_interval_and_only_after_a_finished_sweep():
    estimate = _run(replace(CFG, probe_interval=math.inf), 30)[0]
    state = SweepState(seconds_per_page=SPP)
    plan = plan_sweep(state, CFG, TIGHT, 100.0, estimate)
    assert plan.probe_page > (plan.cadence.pages if plan.cadence else plan.max_pages)
    full = [ListedOrder(str(i), "processing", 0.0) for i in range(100)]
    cut_short, _ = after_sweep(state, plan, 100.0, full, finished=False)
    assert cut_short.probed_at is None
    assert plan_sweep(cut_short, CFG, TIGHT, 101.0, estimate).probe_page
    done, coverage = after_sweep(state, plan, 100.0, full, finished=True)
    assert done.probed_at == 100.0
    soon = plan_sweep(done, CFG, TIGHT, 100.0 + CFG.probe_interval - 1, estimate)
    later = plan_sweep(done, CFG, TIGHT, 100.0 + CFG.probe_interval, estimate)
    assert soon.probe_page == 0 and later.probe_page > 0
    # the probe covers nothing: the coverage is the plan's own, probe or not
    assert coverage == after_sweep(state, replace(plan, probe_page=0), 100.0, full, True)[1]


def test_a_cost_bound_plan_or_one_without_evidence_never_probes():
    estimate = _run(replace(CFG, probe_interval=math.inf), 30)[0]
    low_load = SweepState(seconds_per_page=360.0)  # 1,000 orders an hour
    assert plan_sweep(low_load, CFG, TIGHT, 0.0, estimate).probe_page == 0
    assert plan_sweep(SweepState(seconds_per_page=SPP), CFG, TIGHT, 0.0).probe_page == 0


def test_no_probe_after_a_short_page_the_list_ends_there():
    estimate = _run(replace(CFG, probe_interval=math.inf), 30)[0]
    plan = plan_sweep(SweepState(seconds_per_page=SPP), CFG, TIGHT, 0.0, estimate)
    assert plan.probe_page
    short = [ListedOrder("1", "processing", 0.0)]
    assert probe_after(plan, short) is None
    assert probe_after(replace(plan, probe_page=0), short * 100) is None
    assert probe_after(plan, short * 100) == plan.probe_page


seen_weights = st.lists(st.floats(0.0, 1e4), min_size=BINS, max_size=BINS)


@given(seen_weights, st.floats(0.0, 4000.0), st.floats(0.0, 4000.0))
@settings(max_examples=300)
def test_the_least_seen_age_lies_in_the_range_in_its_least_seen_bin(seen, lo, width):
    estimate = CompletionAges(tuple(seen), (0.0,) * BINS, 0.0)
    hi = lo + width
    age = estimate.least_seen_age(lo, hi)
    if hi <= lo:
        assert age is None
        return
    assert age is not None and lo <= age <= hi
    overlapping = [i for i in range(BINS) if upper_edge(i) > lo and LOWER_EDGES[i] <= hi]
    least = min(seen[i] for i in overlapping)
    chosen = bin_of(age) if age < upper_edge(bin_of(age)) else bin_of(age) - 1
    assert seen[chosen] == least or seen[bin_of(age)] == least


def _tail_estimate(tail_share: float) -> CompletionAges:
    """Sightings at every age up to 1,000 s: orders end at 20 s, `tail_share` at 600 s."""
    sightings = []
    for age in range(0, 1000, 2):
        ended = (1 - tail_share) * (age >= 20) + tail_share * (age >= 600)
        sightings += [(float(age), True)] * round(100 * ended)
        sightings += [(float(age), False)] * (100 - round(100 * ended))
    return CompletionAges().observe(sightings, 0.0)


def test_the_plan_follows_evidence_past_its_depth_only_for_a_tail_per_order_polls_cannot_carry():
    small, large = _tail_estimate(0.01), _tail_estimate(0.05)
    assert small.share_ending_after(300.0, 900.0) is not None
    assert abs(small.share_ending_after(300.0, 900.0) - 0.01) < 0.005
    # 1 %: past the depth is left out; the plan follows what its own pages show
    assert within_reach(small, 300.0, CFG) == small.censored_at(300.0)
    assert within_reach(small, 300.0, CFG).edge() <= 400.0
    # 5 %: the whole estimate, whose quantile lies in the tail
    assert within_reach(large, 300.0, CFG) == large
    assert within_reach(large, 300.0, CFG).quantile(0.99, CFG.horizon_ceiling) > 550.0
    # the share ending after the deadline does not count: nothing ends between 600 s and 900 s
    assert large.share_ending_after(700.0, 900.0) < 0.01
