"""Sweep or poll each order: whichever costs less at the current load and meets the lag target.

With a tick queue each sweep is a short run of its own, so the sweep costs per sweep (how often
it sweeps follows from the load); without one the sweeper loops for its whole scheduled minute
and is billed for its sleeps, a fixed cost per hour. Per-order polling costs per request. At a
few hundred orders an hour polling each order on the relay's schedule is cheaper; at a few
thousand the sweep is cheaper (and past the key's limit the only way). Where the two cross
depends on how long orders take at FoxReload (how many polls an order needs) and on the load,
both of which change: this module forecasts both strategies from the completion-age
distribution the relay has observed and the arrival rate it has measured, and picks one with a
hysteresis band so the choice does not flap around the crossing.

Everything here is arithmetic on the caller's inputs; prices are list prices the caller passes.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from relay.domain.poll_allowance import demand_fits
from relay.domain.schedule import Policy, ScheduleInput

# Survival function of the completion age: P(an order is still pending at age t).
Survival = Callable[[float], float]


class Strategy(Enum):
    SWEEP = "sweep"
    PER_ORDER = "per_order"


@dataclass(frozen=True)
class UnitPrices:
    """USD per unit (us-east-1 list prices; the caller may pass a region's)."""

    lambda_request: float = 0.20 / 1e6
    lambda_gb_second: float = 0.0000133334
    sqs_request: float = 0.40 / 1e6
    ddb_write: float = 0.625 / 1e6
    ddb_read: float = 0.125 / 1e6


@dataclass(frozen=True)
class WorkModel:
    """What one unit of work costs in billed units."""

    memory_gb: float = 0.25
    receive_seconds: float = 0.03  # a receive without a FoxReload request
    api_seconds: float = 0.12  # one FoxReload round trip (the bench assumes the same)
    # A swept order's message is received about once per max-defer while it waits.
    sweep_defer_seconds: float = 120.0
    # With a tick queue each sweep is a short run of its own besides its list request; the
    # schedule's runs (one a minute) then find the chain's lease held and end at once.
    sweep_run_seconds: float = 0.05
    scheduled_runs_per_hour: float = 60.0


@dataclass(frozen=True)
class Forecast:
    polls_per_order: float
    lag_p99: float  # seconds between completion at FoxReload and the poll that sees it


@dataclass(frozen=True)
class Choice:
    strategy: Strategy
    per_order_cost_per_hour: float
    sweep_cost_per_hour: float
    forecast: Forecast
    reason: str
    # Per-order polling's forecast demand is low enough to poll without the shared bucket
    # (relay.domain.poll_allowance), and its cost was reckoned so.
    unmetered: bool = False
    arrivals_per_hour: float = 0.0

    @property
    def per_order_requests_per_hour(self) -> float:
        return self.arrivals_per_hour * self.forecast.polls_per_order


def poll_times(policy: Policy, until: float, max_polls: int = 10_000) -> list[float]:
    """The ages at which the policy polls an order (mean jitter), from its first receive."""
    times = [0.0]
    while times[-1] < until and len(times) < max_polls:
        t = times[-1]
        delay = policy.delay(ScheduleInput(attempt=len(times) - 1, elapsed=t), 0.5)
        times.append(t + max(1.0, delay))
    return times


def _clamped(survival: Survival, t: float) -> float:
    value = survival(t)
    if math.isnan(value):
        return 1.0
    return min(1.0, max(0.0, value))


def forecast_per_order(survival: Survival, times: Sequence[float], q: float = 0.99) -> Forecast:
    """Polls per order and the q-quantile of the detection lag for a poll schedule.

    Poll k (k >= 1) happens only while the order is still pending at poll k-1, so the expected
    count is 1 + sum of S(t_{k-1}). An order completing in (t_{k-1}, t_k] is seen at t_k; the
    completion is taken as uniform within the gap. Mass left past the last poll counts as a
    lag of the last gap (the deadline's safety net handles it).
    """
    if not times:
        raise ValueError("a schedule has at least one poll")
    polls = 1.0
    gaps: list[tuple[float, float]] = []  # (probability mass, gap length)
    previous_s = 1.0
    for before, after in itertools.pairwise(times):
        s_before = min(previous_s, _clamped(survival, before))
        polls += s_before
        s_after = min(s_before, _clamped(survival, after))
        if s_before > s_after:
            gaps.append((s_before - s_after, after - before))
        previous_s = s_after
    if previous_s > 0 and len(times) > 1:
        gaps.append((previous_s, times[-1] - times[-2]))
    return Forecast(polls, _lag_quantile(gaps, q))


def _lag_quantile(gaps: list[tuple[float, float]], q: float) -> float:
    total = sum(mass for mass, _ in gaps)
    if total <= 0:
        return 0.0

    def beyond(lag: float) -> float:
        return sum(mass * max(0.0, (gap - lag) / gap) for mass, gap in gaps if gap > 0) / total

    low, high = 0.0, max(gap for _, gap in gaps)
    for _ in range(60):
        mid = (low + high) / 2
        if beyond(mid) > 1 - q:
            low = mid
        else:
            high = mid
    return high


def poll_cost(prices: UnitPrices, work: WorkModel, metered: bool = True) -> float:
    """One per-order poll: an invocation, its run, receive + change visibility, and a token
    take (a read and a conditional write) unless the poll is unmetered."""
    seconds = work.receive_seconds + work.api_seconds
    token = prices.ddb_write + prices.ddb_read if metered else 0.0
    return (
        prices.lambda_request
        + seconds * work.memory_gb * prices.lambda_gb_second
        + 2 * prices.sqs_request
        + token
    )


def deferred_receive_cost(prices: UnitPrices, work: WorkModel) -> float:
    """A receive that the sweep's coverage sends back without a request."""
    return (
        prices.lambda_request
        + work.receive_seconds * work.memory_gb * prices.lambda_gb_second
        + 2 * prices.sqs_request
        + prices.ddb_read
    )


def sweep_cost(prices: UnitPrices, work: WorkModel) -> float:
    """One sweep of a tick chain: its invocation and run (a list request), the lease turn and
    the coverage (two writes), and its tick's send, receive and delete."""
    seconds = work.sweep_run_seconds + work.api_seconds
    return (
        prices.lambda_request
        + seconds * work.memory_gb * prices.lambda_gb_second
        + 3 * prices.sqs_request
        + 2 * prices.ddb_write
    )


def sweeper_cost_per_hour(
    prices: UnitPrices, work: WorkModel, sweep_interval: float | None = None
) -> float:
    """With a tick queue (`sweep_interval`: seconds between sweeps), what the sweeps cost and
    the scheduled runs beside them (each a conditional write that finds the lease held).
    Without one, the sweeper loops for its whole scheduled minute, sleeps included."""
    scheduled = work.scheduled_runs_per_hour * prices.lambda_request
    if sweep_interval is None:
        return 3600 * work.memory_gb * prices.lambda_gb_second + scheduled
    sweeps = 3600.0 / max(1.0, sweep_interval)
    runs = work.scheduled_runs_per_hour * (
        work.sweep_run_seconds * work.memory_gb * prices.lambda_gb_second + prices.ddb_write
    )
    return sweeps * sweep_cost(prices, work) + scheduled + runs


def choose(
    current: Strategy,
    arrivals_per_hour: float,
    forecast: Forecast,
    mean_completion_age: float,
    *,
    lag_target: float,
    requests_per_hour_limit: float,
    prices: UnitPrices | None = None,
    work: WorkModel | None = None,
    band: float = 0.25,
    max_key_utilisation: float = 0.75,
    sweep_interval: float | None = None,
) -> Choice:
    """The cheaper strategy that meets the lag target and leaves the key room.

    Per-order polling must forecast a p99 lag within `lag_target` and use at most
    `max_key_utilisation` of the key (the sweeper looks again every half minute, and a burst
    shows in the recent rate at once). Within those limits it replaces the sweep only when it
    costs less than (1 - band) of it, and the sweep comes back once per-order polling costs
    more than (1 + band) of it or its lag forecast passes (1 + band) of the target: a switch
    costs a little lag (messages the sweep had deferred wait out their deferral), so the
    choice must not flap on noise.
    """
    prices = prices or UnitPrices()
    work = work or WorkModel()
    rate = max(0.0, arrivals_per_hour) if math.isfinite(arrivals_per_hour) else math.inf
    unmetered = demand_fits(rate * forecast.polls_per_order, requests_per_hour_limit)
    per_order = rate * forecast.polls_per_order * poll_cost(prices, work, not unmetered)
    waits = 1.0 + max(0.0, mean_completion_age) / max(1.0, work.sweep_defer_seconds)
    sweep = sweeper_cost_per_hour(prices, work, sweep_interval)
    sweep += rate * waits * deferred_receive_cost(prices, work)

    def chosen(strategy: Strategy, reason: str) -> Choice:
        return Choice(strategy, per_order, sweep, forecast, reason, unmetered, rate)

    lag_limit = lag_target * (1 + band) if current is Strategy.PER_ORDER else lag_target
    if forecast.lag_p99 > lag_limit:
        return chosen(Strategy.SWEEP, "per-order lag above target")
    if rate * forecast.polls_per_order > max_key_utilisation * requests_per_hour_limit:
        return chosen(Strategy.SWEEP, "per-order polls would crowd the key")
    if current is Strategy.PER_ORDER:
        keep = per_order <= (1 + band) * sweep
        return chosen(
            Strategy.PER_ORDER if keep else Strategy.SWEEP,
            "per-order still cheaper" if keep else "sweep cheaper",
        )
    switch = per_order < (1 - band) * sweep
    return chosen(
        Strategy.PER_ORDER if switch else Strategy.SWEEP,
        "per-order cheaper" if switch else "sweep cheaper or within band",
    )


@dataclass(frozen=True)
class StepSurvival:
    """A right-continuous step function: P(pending at age t) from Kaplan-Meier estimates."""

    ages: tuple[float, ...] = ()
    values: tuple[float, ...] = ()

    def __call__(self, t: float) -> float:
        index = bisect.bisect_right(self.ages, t)
        return 1.0 if index == 0 else self.values[index - 1]

    @property
    def mean(self) -> float:
        """The area under the curve up to the last observed completion (a lower bound)."""
        area, previous_age, previous_value = 0.0, 0.0, 1.0
        for age, value in zip(self.ages, self.values, strict=True):
            area += (age - previous_age) * previous_value
            previous_age, previous_value = age, value
        return area


def kaplan_meier(samples: Iterable[tuple[float, bool]]) -> StepSurvival:
    """Completion-age survival from (age, completed) pairs: an order still pending counts up to its
    age so far (censored), so slow orders are not missed just because they have not finished.

    Non-finite or negative ages are ignored.
    """
    clean = sorted((age, done) for age, done in samples if math.isfinite(age) and age >= 0)
    at_risk = len(clean)
    survival = 1.0
    ages: list[float] = []
    values: list[float] = []
    i = 0
    while i < len(clean):
        age = clean[i][0]
        completed = censored = 0
        while i < len(clean) and clean[i][0] == age:
            if clean[i][1]:
                completed += 1
            else:
                censored += 1
            i += 1
        if completed:
            survival *= 1 - completed / at_risk
            ages.append(age)
            values.append(survival)
        at_risk -= completed + censored
    return StepSurvival(tuple(ages), tuple(values))


# Arrivals are counted over the supplier deadline's span and over its last few minutes, so a
# burst is swept at once.
RECENT_SECONDS = 120.0
# The completion-age forecast needs enough orders for its p99: below this many in the rate's
# window it reads further back (a low load's orders are few and cheap to read).
MIN_SAMPLES = 200
HISTORY_SECONDS = 3 * 3600.0


def arrival_rate(in_window: int, window: float, recent: int, recent_span: float) -> float:
    """Orders an hour over the window, or over its last minutes when those run at more than
    twice the window's rate (a burst; a smaller excess is the noise of a short count)."""
    long = in_window / max(window, 1e-9)
    short = recent / max(recent_span, 1e-9)
    return 3600.0 * (short if short > 2 * long else long)


def decide(
    samples: Iterable[tuple[float, bool]],
    arrivals_per_hour: float,
    current: Strategy,
    times: Sequence[float],
    *,
    lag_target: float,
    requests_per_hour_limit: float,
    sweep_interval: float | None = None,
) -> Choice:
    """The whole choice from observations: (age, completed) samples of recent orders, the
    arrival rate, the per-order schedule's poll times (`poll_times`) and, with a tick queue,
    the sweep's interval at this load (None: the sweeper loops, billed for its sleeps)."""
    survival = kaplan_meier(samples)
    return choose(
        current,
        arrivals_per_hour,
        forecast_per_order(survival, times),
        survival.mean,
        lag_target=lag_target,
        requests_per_hour_limit=requests_per_hour_limit,
        sweep_interval=sweep_interval,
    )
