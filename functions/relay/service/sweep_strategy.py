"""Sweep, or leave the orders to per-order polling? Asked at each in-flight check of the sweeper.

From one read of the ledger's acceptance index over the supplier deadline's span, it measures
the arrival rate and the completion-age survival (Kaplan-Meier: an order seen terminal completed
at that age, one still pending counts up to its age so far), forecasts per-order polling on the
relay's own schedule, and lets relay.domain.sweep_economics choose. The previous choice is
whether the last published coverage is still fresh, so the hysteresis needs no state of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from relay.domain.coverage import SweepConfig
from relay.domain.schedule import Policy
from relay.domain.stuck_orders import LedgerOrder
from relay.domain.sweep import interval_at
from relay.domain.sweep_economics import (
    RECENT_SECONDS,
    Choice,
    Strategy,
    arrival_rate,
    decide,
    poll_times,
)
from relay.settings import PollerSettings


@dataclass(frozen=True)
class Look:
    """One in-flight check: is anything the sweep could find unfinished, and which strategy."""

    in_flight: bool
    choice: Choice | None  # None: the strategy is fixed (always sweep)

    @property
    def sweep(self) -> bool:
        return self.in_flight and (self.choice is None or self.choice.strategy is Strategy.SWEEP)


def completion_samples(orders: Sequence[LedgerOrder], now: float) -> list[tuple[float, bool]]:
    """(age, completed) per order: the age at its first terminal sight, or its age so far."""
    samples: list[tuple[float, bool]] = []
    for order in orders:
        if order.terminal_seen_at is not None:
            samples.append((order.terminal_seen_at - order.accepted_at, True))
        else:
            samples.append((now - order.accepted_at, False))
    return samples


class StrategyChooser:
    def __init__(
        self,
        settings: PollerSettings,
        policy: Policy,
        sweep: SweepConfig | None = None,
        sweep_rate: float = 1.0,
    ) -> None:
        """`sweep` and `sweep_rate` (the sweeper's tokens a second): how often a sweep runs at
        a given load, which is what a sweep costs with a tick queue."""
        self.settings = settings
        self.window = settings.give_up_after_seconds
        self.times = poll_times(policy, until=settings.give_up_after_seconds)
        self.sweep = sweep or SweepConfig()
        self.sweep_rate = sweep_rate

    def arrivals_per_hour(self, orders: Sequence[LedgerOrder], now: float) -> float:
        recent = sum(1 for order in orders if order.accepted_at > now - self.recent_span)
        return self.rate(len(orders), recent)

    @property
    def recent_span(self) -> float:
        return min(RECENT_SECONDS, self.window)

    def rate(self, in_window: int, recent: int) -> float:
        return arrival_rate(in_window, self.window, recent, self.recent_span)

    def choose(
        self,
        orders: Sequence[LedgerOrder],
        now: float,
        sweeping: bool,
        history: Sequence[LedgerOrder] | None = None,
    ) -> Choice:
        """`orders`: those accepted in the last `window` seconds (the rate); `history`: a longer
        span for the completion ages when the window holds few orders; `sweeping`: the mode."""
        samples = completion_samples(orders if history is None else history, now)
        return self.decide(samples, self.arrivals_per_hour(orders, now), sweeping)

    def decide(
        self, samples: Iterable[tuple[float, bool]], arrivals_per_hour: float, sweeping: bool
    ) -> Choice:
        """The choice from (age, completed) samples and the arrival rate (the bench calls this
        with its simulated orders)."""
        ticks = bool(self.settings.sweep_tick_queue_url)
        return decide(
            samples,
            arrivals_per_hour,
            Strategy.SWEEP if sweeping else Strategy.PER_ORDER,
            self.times,
            lag_target=self.settings.sweep_lag_target_seconds,
            requests_per_hour_limit=self.settings.foxreload_rate_limit_per_minute * 60,
            sweep_interval=interval_at(arrivals_per_hour, self.sweep, self.sweep_rate)
            if ticks
            else None,
        )
