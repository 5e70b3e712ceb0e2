"""The population family, the request bound, idle cost, the family's targets and the charts."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest

from bench import charts, family
from bench.bounds import list_requests_lower_bound, one_pass_list_requests, ratio_to_bound
from bench.costs import idle_cost_per_month
from bench.des import Environment, Mode, RunSpec, simulate
from bench.population import (
    BIMODAL,
    DEFAULT,
    FAMILY,
    LOGNORMAL_LONG,
    REGIME_X3,
    SLOW_SUPPLIER,
    UNSEEN,
    completion_quantiles,
)
from bench.run import busy_share, run_one
from relay.domain.coverage import SweepConfig
from relay.domain.schedule import RelayPolicy

RELAY = Mode("relay", RelayPolicy(), sweep=SweepConfig())


def completions(p, n=20_000, seed=2):
    rng = random.Random(seed)
    return sorted(t for t, s in (p.draw(rng) for _ in range(n)) if s == "completed")


def test_the_family_has_five_differently_shaped_members_and_a_regime_change():
    names = [p.name for p in FAMILY]
    assert len(set(names)) == len(names) >= 5
    assert {"default", "heavy-tail", "regime-x3"} <= set(names)
    assert len({p.describe().__repr__() for p in FAMILY}) == len(FAMILY)


def test_the_members_unlike_the_default_have_their_shapes():
    bimodal = completions(BIMODAL)
    second_mode = sum(1 for t in bimodal if 120 <= t <= 260) / len(bimodal)
    assert second_mode > 0.25
    assert sum(1 for t in completions(DEFAULT) if 120 <= t <= 260) / len(bimodal) < 0.03
    long = completion_quantiles(LOGNORMAL_LONG)
    assert long["beyond_300s"] > 0.005
    assert completion_quantiles(DEFAULT)["beyond_300s"] < long["beyond_300s"] / 2
    assert 60 <= completion_quantiles(SLOW_SUPPLIER)["p50"] <= 90


def test_the_unseen_shapes_are_not_family_members_and_end_past_the_usual_reach():
    names = [p.name for p in UNSEEN]
    assert len(set(names)) == len(names) == 4
    assert not set(names) & {p.name for p in FAMILY}
    shapes = {p.name: completion_quantiles(p) for p in UNSEEN}
    assert shapes["mode-10min"]["beyond_300s"] > 0.15  # a fifth end at 8-12 minutes
    assert 0.03 < shapes["tail-5pct-long"]["beyond_300s"] < 0.07
    assert shapes["regime-x6"]["p99"] > 5 * completion_quantiles(DEFAULT)["p99"]
    flat = shapes["flat-400"]  # one spread-out body, nothing past its 400 s cap (+ payment)
    assert flat["p50"] > 5 * completion_quantiles(DEFAULT)["p50"]
    assert flat["p99"] <= 405.0 and flat["beyond_900s"] == 0.0


def test_a_regime_change_switches_at_the_middle_of_the_window_and_scales_times():
    placed = REGIME_X3.for_run(900.0, 3600.0)
    assert placed.switch_at == 900.0 + 1800.0
    before = [placed.draw(random.Random(7), now=100.0) for _ in range(1)]
    after = [placed.draw(random.Random(7), now=3000.0) for _ in range(1)]
    assert before == [DEFAULT.draw(random.Random(7))]
    assert after[0][0] == pytest.approx(3 * before[0][0])
    assert after[0][1] == before[0][1]


def test_the_simulation_draws_each_order_with_its_arrival_time():
    spec = RunSpec(2000, warmup=0.0, measure=900.0, seed=4)
    env = Environment()
    switched = simulate(RELAY, replace(REGIME_X3, switch_at=0.0), env, spec)
    never = simulate(RELAY, REGIME_X3, env, spec)  # switch_at inf: the earlier regime only
    assert switched.detection_lags == simulate(RELAY, REGIME_X3.after, env, spec).detection_lags
    assert never.detection_lags == simulate(RELAY, DEFAULT, env, spec).detection_lags
    assert switched.detection_lags != never.detection_lags


def test_the_lower_bound_is_completions_over_the_page_size():
    assert list_requests_lower_bound(955.0, 100) == pytest.approx(9.55)
    assert one_pass_list_requests(1000.0, 100) == pytest.approx(10.0)
    assert list_requests_lower_bound(0.0, 100) == 0.0
    assert ratio_to_bound(100.0, 10.0) == 10.0
    assert ratio_to_bound(1.0, 0.0) == math.inf
    with pytest.raises(ValueError):
        list_requests_lower_bound(10.0, 0)
    with pytest.raises(ValueError):
        list_requests_lower_bound(-1.0, 100)


@pytest.mark.parametrize("load", [1000, 20000])
def test_no_simulated_relay_beats_the_bound(load):
    row = run_one(RELAY, DEFAULT, Environment(), RunSpec(load, warmup=300.0, measure=600.0))
    completed = row["offered_completions_per_hour"]
    bound = list_requests_lower_bound(completed, SweepConfig().page_limit)
    assert row["api_requests_per_hour"] >= bound > 0


def test_busy_share_counts_checks_that_find_an_open_order_within_reach():
    assert busy_share([], [], 0.0, 300.0, 100.0) == 0.0
    assert busy_share([0.0], [math.nan], 0.0, 90.0, 100.0) == 1.0  # never ends: open
    # one order at t=10 open until t=50: checks at 0, 30, 60, 90 -> only 30 finds it
    assert busy_share([10.0], [50.0], 0.0, 120.0, 1000.0) == pytest.approx(0.25)
    # enqueued longer than the reach before a check, it does not count (checks at 0 and 30
    # would need a reach above 20)
    assert busy_share([10.0], [500.0], 0.0, 120.0, 15.0) == 0.0
    assert busy_share([10.0], [500.0], 0.0, 120.0, 25.0) == pytest.approx(0.25)


def test_idle_costs_the_relay_its_scheduled_runs_on_top_of_the_long_polls():
    relay, seed = idle_cost_per_month(True, "us-east-1"), idle_cost_per_month(False, "us-east-1")
    assert seed["total"] == seed["sqs_long_polls"] > 0
    assert relay["total"] == pytest.approx(
        relay["sqs_long_polls"]
        + relay["sweep_tick_long_polls"]  # the tick queue's event source polls it too
        + relay["sweeper_idle_runs"]
        + relay["monitors"]
    )
    assert seed["total"] < relay["total"] < 1.0


def row(load, mode, *, req=1.0, lag=5.0, dollars=10.0, p99=10.0, lost=0, dlq=0, share=0.0):
    return {
        "load": load,
        "mode": mode,
        "requests_per_delivered": req,
        "detection_lag_p99": lag,
        "time_to_deliver_p99": p99,
        "lost": lost,
        "completed_but_dead_lettered": dlq,
        "http_429_share": share,
        "cost_per_million": {"us-east-1": {"total": dollars}},
    }


def test_member_targets_pass_and_fail_as_the_numbers_say():
    idle = {"relay": {"total": 0.4}, "seed": {"total": 0.3}}
    ent = {"largest_load": 90000.0, "first_failing_load": 100000.0, "resolution": 10000.0}
    rows = [
        row(1000, "relay", req=1.0, lag=5.0, dollars=9.0),
        row(1000, "seed", req=4.0, lag=17.0, dollars=9.0),  # equal cost: still Pareto-better
        row(100, "relay", dollars=12.0),
        row(100, "seed", dollars=11.0),
        row(20000, "relay", p99=29.0, share=0.02),
        row(40000, "relay", p99=61.0, dlq=1),
    ]
    got = {t["target"].split(" (")[0]: t["met"] for t in family.check_member(rows, ent, idle)}
    assert got["1000/h: relay Pareto-better than seed"] is True
    assert got["100/h: relay $/1M <= seed's"] is False
    assert got["idle: relay $/month <= seed's"] is False
    assert got["idle: relay <= $1/month"] is True
    assert got["20000/h: p99 time-to-deliver <= 30 s"] is True
    assert got["20000/h: 429 < 1% of requests"] is False
    assert got["40000/h: p99 time-to-deliver <= 60 s"] is False
    assert got["40000/h: 0 completed orders dead-lettered"] is False
    assert got["enterprise"] is None
    assert family.pareto_better((1.0, 2.0), (1.0, 2.0)) is False
    assert family.pareto_better((1.0, 3.0), (2.0, 2.0)) is False


def test_a_smoke_family_run_reports_every_member_with_its_tables():
    config = replace(family.smoke_config(("regime-x3",)), high_measure=60.0)
    assert config.enterprise_max <= 2 * config.enterprise_start  # two probes at most
    result = family.run_family(config, seed=3, processes=1)
    assert [m["name"] for m in result["members"]] == ["regime-x3"]
    for m in result["members"]:
        # the seed's saturated high loads run on the default population only
        assert {(r["load"], r["mode"]) for r in m["rows"]} == {
            (load, "relay") for load in family.LOADS
        } | {(load, "seed") for load in family.SEED_LOADS_OTHER_MEMBERS}
        assert all(r["lower_bound_requests_per_hour"] > 0 for r in m["rows"])
        assert m["enterprise"]["probes"]
        assert len(m["targets"]) == 11
    assert "switch" in result["members"][0]["differs_from_default"]
    text = "\n".join(family.report_lines(result, lambda h, rows: f"{h} {rows}"))
    assert "### regime-x3" in text and "Family summary" in text


def synthetic_report():
    def run(load, mode, delivered, p99, dollars, cdf=True):
        out = {
            "section": "main",
            "load": load,
            "mode": mode,
            "deliveries_per_hour": delivered,
            "time_to_deliver_p99": p99,
            "cost_per_million": {"us-east-1": {"total": dollars}},
        }
        if cdf and load == 1000:
            out["detection_lag_cdf"] = [[q, q / 10.0] for q in range(1, 101)]
        return out

    runs = [
        run(1000, "seed", 950, 18.0, 11.0),
        run(5000, "seed", 4400, math.inf, 27.0),
        run(1000, "relay", 950, 5.0, 19.0),
        run(20000, "relay", 19000, 15.0, 6.7),
    ]
    curve = [dict(run(40000, "relay", 30000, "inf", 6.0), section="curve")]
    return {"runs": runs, "family": {"curve": curve}}


def test_the_charts_render_from_a_small_result(tmp_path):
    paths = charts.render(synthetic_report(), tmp_path / "img")
    assert [p.name for p in paths] == ["throughput.png", "lag_cdf.png", "cost.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert p.stat().st_size > 5000
