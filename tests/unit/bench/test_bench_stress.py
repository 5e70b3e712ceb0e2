"""The stress scenarios: the relay's breaker, waits and webhook retries, driven through the DES."""

from __future__ import annotations

from dataclasses import replace

import pytest

import bench.des
from bench import run
from bench.des import Environment, Mode, RunSpec, Simulation, Stress, simulate
from bench.population import DEFAULT
from relay.domain.coverage import SweepConfig
from relay.domain.rate_budget import Grant
from relay.domain.schedule import RelayPolicy

RELAY = Mode("relay", RelayPolicy(), sweep=SweepConfig())
ENV = Environment()


def stressed(
    load: float, stress: Stress, env: Environment = ENV, seed: int = 3, mode: Mode = RELAY
) -> dict:
    spec = RunSpec(load, warmup=stress.start, measure=stress.recovery - stress.start, seed=seed)
    result = simulate(mode, DEFAULT, env, replace(spec, stress=stress))
    assert result.stress is not None
    return result.stress


def assert_sound(s: dict) -> None:
    """What every scenario must show: nothing the relay could deliver is dead-lettered or
    delivered twice, nothing is left open, and the drain is never faster than physics."""
    assert s["open_at_end"] == 0
    assert s["dead_lettered_completed_at_foxreload"] == 0
    assert s["dead_lettered_terminal_at_foxreload"] == 0
    assert s["duplicate_deliveries"] == 0
    assert set(s["dead_letter_reasons"]) <= set(run.EXPECTED_DLQ)
    assert s["drain_seconds"] >= s["drain_bound_seconds"]


def test_an_outage_opens_the_breaker_parks_orders_and_loses_none():
    s = stressed(1000, Stress("outage", start=300.0, outage=900.0))
    assert_sound(s)
    assert s["breaker_opens"] == 1
    assert s["parked_receives"] > s["backlog_at_recovery"]  # parked without a request
    assert s["webhook_failures"] < 100  # the breaker stopped the sends: probes only
    assert s["backlog_at_recovery"] > 150


def test_without_the_breaker_a_short_delivery_window_dead_letters_completed_orders():
    env = replace(ENV, delivery_window=900.0)
    outage = Stress("outage", start=300.0, outage=1800.0)
    # Both with the sweep running throughout (at 1,000/h the default strategy may hand the
    # orders to per-order polling, which changes which orders meet the window, not the point).
    sweeping = replace(RELAY, sweep_strategy="always")
    without = stressed(1000, replace(outage, breaker=None), env, mode=sweeping)
    with_breaker = stressed(1000, outage, env, mode=sweeping)
    # every retry of every order (and every sweep) meets the outage until the window closes
    assert without["dead_letter_reasons"].get("webhook_unavailable", 0) > 20
    assert without["dead_lettered_completed_at_foxreload"] > 20
    assert without["webhook_failures"] > 100 * with_breaker["webhook_failures"]
    # With the breaker, orders parked past the window end as the window says (the relay does
    # what the configured window promises, without hammering the storefront meanwhile).
    assert with_breaker["dead_letter_reasons"].get("webhook_unavailable", 0) > 0
    assert (
        with_breaker["dead_lettered_completed_at_foxreload"]
        <= without["dead_lettered_completed_at_foxreload"]
    )


def test_a_mass_redrive_delivers_every_finished_order_and_dead_letters_poison_again():
    s = stressed(1000, Stress("redrive", start=300.0, redrive=400, redrive_poison_share=0.05))
    assert_sound(s)
    assert s["redriven"] == 400
    assert 5 <= s["dead_letter_reasons"]["poison"] <= 40
    assert s["backlog_at_recovery"] > 300


def test_an_overload_waits_for_budget_and_never_dead_letters_for_it():
    s = stressed(1000, Stress("overload", start=300.0, overload=900.0, overload_rate=60000))
    assert_sound(s)
    assert s["budget_deferrals"] > 0
    assert s["backlog_at_recovery"] > 100
    assert s["api_429"] == 0


def test_every_per_order_request_takes_its_token_through_one_function(monkeypatch):
    calls = []

    def refuse(self, ask, now):
        calls.append(now)
        return Grant(False, self.order_bucket, 5.0)

    monkeypatch.setattr(Simulation, "take_order_token", refuse)
    # No allowance to poll unmetered (that is the next test's subject).
    monkeypatch.setattr(bench.des, "next_allowance", lambda current, **_: current)
    # refused orders wait for ever: the run stops at its hard stop
    stop = Stress("refused", start=300.0, max_duration=900.0)
    sim = Simulation(RELAY, DEFAULT, ENV, RunSpec(1000, 300.0, 0.0, seed=2, stress=stop))
    result = sim.run()
    assert calls
    assert sim.total.api_requests == sim.total.list_requests  # no per-order poll went around it
    assert result.stress is not None and result.stress["open_at_end"] > 0


def test_capacity_search_bisects_to_the_resolution(monkeypatch):
    def probe(load, seed):
        return {
            "load": load,
            "sustained": load <= 33_500,
            "time_to_deliver_p99": 1.0,
            "backlog_growth_per_hour": 0.0,
            "lost": 0,
            "sweep_horizon": 1.0,
        }

    monkeypatch.setattr(run, "capacity_probe", probe)
    found = run.find_capacity(seed=1)
    assert found["sustained_load"] == 33_000
    assert found["first_failing_load"] - found["sustained_load"] <= run.CAPACITY_RESOLUTION


def test_sustains_rejects_a_growing_backlog_or_a_slow_p99():
    good = {
        "load": 1000,
        "time_to_deliver_p99": 10.0,
        "backlog_growth_per_hour": 5.0,
        "lost": 0,
        "completed_but_dead_lettered": 0,
    }
    assert run.sustains(good)
    assert not run.sustains({**good, "backlog_growth_per_hour": 50.0})
    assert not run.sustains({**good, "time_to_deliver_p99": 31.0})
    assert not run.sustains({**good, "lost": 1})


@pytest.mark.parametrize("full", [True, False])
def test_the_scenarios_are_the_ones_asked_for(full):
    names = [s.name for s in run.scenarios(full, sustained=30_000)]
    assert "outage 30 min @ 1000/h" in names and "outage 30 min @ 5000/h" in names
    assert "outage 4 h @ 1000/h" in names
    assert ("outage 4 h @ 5000/h" in names) is full
    assert "redrive 5000 @ 1000/h" in names
    rates = sorted(s.stress.overload_rate for s in run.scenarios(full, 30_000) if s.stress.overload)
    assert rates == [45_000, 60_000]


def test_unmetered_polls_happen_only_under_the_sweepers_allowance(monkeypatch):
    """At a low load the sweeper grants an allowance and per-order polls skip the bucket;
    without it every per-order poll takes a token."""
    granted: list[bool] = []
    original = bench.des.next_allowance

    def spy(current, **kwargs):
        allowance = original(current, **kwargs)
        granted.append(allowance.until > kwargs["now"])
        return allowance

    monkeypatch.setattr(bench.des, "next_allowance", spy)
    # a sweeper billed for its whole minute: at this load per-order polling is the cheaper
    looping = replace(RELAY, sweep_ticks=False)
    sim = Simulation(looping, DEFAULT, ENV, RunSpec(200, 900.0, 3600.0, seed=3))
    sim.run()
    per_order = sim.total.api_requests - sim.total.list_requests
    assert any(granted)
    assert per_order > 0
    assert sim.total.budget_writes < per_order / 2
