"""The benchmark's simulation: reproducible, conserves orders, delivers once, obeys the budget."""

from __future__ import annotations

import math
import random

import pytest

from bench.costs import PRICES, UsageModel, cost_per_million, usage_per_order
from bench.des import Environment, Mode, RunSpec, percentile, simulate
from bench.population import DEFAULT, HEAVY_TAIL
from relay.domain.coverage import SweepConfig
from relay.domain.schedule import RelayPolicy, SeedPolicy

ENV = Environment()
SEED = Mode("seed", SeedPolicy())
RELAY = Mode("relay", RelayPolicy(), sweep=SweepConfig())


def short(load: float, seed: int = 5) -> RunSpec:
    return RunSpec(load, warmup=300.0, measure=900.0, seed=seed)


def test_a_run_replays_exactly_from_its_seed():
    a = simulate(RELAY, DEFAULT, ENV, short(3000))
    b = simulate(RELAY, DEFAULT, ENV, short(3000))
    c = simulate(RELAY, DEFAULT, ENV, short(3000, seed=6))
    assert a.detection_lags == b.detection_lags
    assert a.window == b.window
    assert a.detection_lags != c.detection_lags


@pytest.mark.parametrize("mode", [SEED, RELAY, Mode("budget", RelayPolicy(), budget=True)])
def test_every_order_ends_exactly_one_way_and_is_delivered_at_most_once(mode):
    r = simulate(mode, DEFAULT, ENV, short(3000))
    assert r.lost == 0
    assert r.delivered + r.notified + r.dead_lettered == r.measured_orders
    assert r.claims_refused == 0 or mode.sweep is not None
    assert all(lag >= 0 for lag in r.detection_lags)


def test_webhooks_equal_terminal_orders_found():
    r = simulate(RELAY, DEFAULT, ENV, RunSpec(2000, warmup=0.0, measure=1200.0, seed=3))
    # warmup 0: every order is measured, so every webhook belongs to a measured order
    assert r.total.webhooks == r.delivered + r.notified


def test_sweep_mode_delivers_most_orders_from_the_list_and_never_gets_429():
    r = simulate(RELAY, DEFAULT, ENV, short(5000))
    assert r.window.api_429 == 0
    assert r.window.sweep_webhooks > 0.9 * r.window.webhooks
    assert r.window.api_requests / r.window_deliveries < 2


def test_the_seed_overloads_one_key_at_5000_an_hour():
    r = simulate(SEED, DEFAULT, ENV, short(5000))
    assert r.window.api_429 > 0.5 * r.window.api_requests


def test_population_shares_match_the_documented_mixture():
    rng = random.Random(1)
    draws = [DEFAULT.draw(rng) for _ in range(40_000)]
    never = sum(1 for t, s in draws if s is None) / len(draws)
    failed = sum(1 for t, s in draws if s == "failed") / len(draws)
    completed = [t for t, s in draws if s == "completed"]
    assert never == pytest.approx(DEFAULT.never_share, abs=0.002)
    assert failed == pytest.approx(DEFAULT.failed_share, abs=0.004)
    within_a_minute = sum(1 for t in completed if t <= 64) / len(completed)
    assert within_a_minute == pytest.approx(1 - DEFAULT.tail_share / 0.96, abs=0.01)
    assert all(t >= DEFAULT.pay_min + DEFAULT.processing_min for t in completed)
    heavy = [HEAVY_TAIL.draw(rng) for _ in range(20_000)]
    assert sum(1 for t, s in heavy if t > 64 and s == "completed") > 2 * sum(
        1 for t, s in draws[:20_000] if t > 64 and s == "completed"
    )


def test_percentile_is_nearest_rank_and_counts_never_delivered_as_largest():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, math.inf], 99) == math.inf
    assert math.isnan(percentile([], 50))


def test_costs_are_positive_and_add_up():
    r = simulate(RELAY, DEFAULT, ENV, short(3000))
    usage = usage_per_order(r, ENV, UsageModel())
    for region in PRICES:
        parts = cost_per_million(usage, region)
        assert all(v >= 0 for v in parts.values())
        assert parts["total"] == pytest.approx(sum(v for k, v in parts.items() if k != "total"))
    assert usage["sqs_requests"] >= 2  # at least the send and one receive per order


def test_a_tick_chain_is_billed_per_sweep_at_the_busy_share():
    """With ticks each sweep is a run of its own (its invocation, three SQS requests for its
    tick, its lease turn and coverage writes); the DES's sweeper never idles, so the deployed
    chain's sweeps are its sweeps at the busy share. Without ticks the loop is billed per
    minute, sleeps included."""
    ticks = simulate(RELAY, DEFAULT, ENV, short(3000))
    assert ticks.sweep_ticks and ticks.window.sweeps > 0
    full = usage_per_order(ticks, ENV, UsageModel(), sweeper_busy_share=1.0)
    half = usage_per_order(ticks, ENV, UsageModel(), sweeper_busy_share=0.5)
    orders = ticks.measured_orders
    sweeps = ticks.window.sweeps
    assert full["sqs_requests"] - half["sqs_requests"] == pytest.approx(3 * 0.5 * sweeps / orders)
    assert full["ddb_writes"] - half["ddb_writes"] == pytest.approx(2 * 0.5 * sweeps / orders)
    assert full["lambda_invocations"] - half["lambda_invocations"] == pytest.approx(
        0.5 * sweeps / orders
    )
    loop_mode = Mode("relay-loop", RelayPolicy(), sweep=SweepConfig(), sweep_ticks=False)
    looping = simulate(loop_mode, DEFAULT, ENV, short(3000))
    assert not looping.sweep_ticks
    seconds = usage_per_order(looping, ENV, UsageModel())["lambda_gb_seconds"]
    # a loop is billed for the whole window it sweeps in, far more than its sweeps' own time
    assert seconds > full["lambda_gb_seconds"]
