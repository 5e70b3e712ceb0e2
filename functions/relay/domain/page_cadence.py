"""How often to read each list page: young pages every sweep, older pages by a moving chunk.

Page k of the list holds orders of ages [(k-1)s, ks) (s: seconds of order creation per page). A
read of a page finds the orders that ended since its last read, so the pages where most orders
end (young ages, large completion mass) are worth reading often and the sparse tail seldom. The
cadence has two tiers:

- the young pages 1..`young` are read on every sweep, `interval` apart;
- the older pages up to `pages` (the horizon) are read `chunk` at a time, one chunk per sweep,
  the chunk moving from the young end towards the deepest page and then starting again. Orders
  drift the same way (new orders push them down the list) by `drift` pages a sweep, slower than
  the chunk, so an order ahead of the chunk cannot slip behind it unread: every older order is
  read at least once per `cycle` sweeps.

Each sweep costs the same (`young + chunk` pages), so the sweeper's token bucket drains evenly.
Among the cadences within the request rate that read every page at least every `max_gap`, the
planner takes the one with the shortest wait for the `quantile` share of completions (what a
tail-latency target measures), then the shortest expected wait, sum(mass x gap): young pages get
the fast tier in proportion to how many orders end at their ages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

_INTERVAL_STEPS = 40


@dataclass(frozen=True)
class Cadence:
    interval: float  # between sweeps
    young: int  # pages 1..young: every sweep
    pages: int  # pages within the horizon (young + the older tier)
    chunk: int = 0  # older pages read per sweep (0: there is no older tier)
    drift: float = 0.0  # pages an order moves down the list in one interval

    def __post_init__(self) -> None:
        if not 1 <= self.young <= self.pages:
            raise ValueError("need 1 <= young <= pages")
        older = self.pages - self.young
        if older and not (self.chunk >= older or self.chunk > self.drift):
            raise ValueError("a chunk must outrun the drift, or cover the older tier")

    @property
    def cycle(self) -> int:
        """Sweeps between two reads of an older order, at most (1: no older tier, or one chunk
        covers it): the chunk gains `chunk - drift` pages a sweep on the order, plus the wrap."""
        older = self.pages - self.young
        if older == 0 or self.chunk >= older:
            return 1
        return math.ceil(older / (self.chunk - self.drift) - 1e-9) + 1

    @property
    def longest_gap(self) -> float:
        """The longest time between two reads of an order within the horizon."""
        return self.cycle * self.interval

    @property
    def pages_per_sweep(self) -> int:
        return self.young + min(self.chunk, self.pages - self.young)

    @property
    def requests_per_second(self) -> float:
        return self.pages_per_sweep / self.interval

    def next_chunk(self, previous_first: int | None) -> tuple[int, int]:
        """The older pages (first, last; 1-based, inclusive) the next sweep reads, after a chunk
        that began at `previous_first` (None: none yet). (0, -1) when there is no older tier."""
        older = self.pages - self.young
        if older == 0:
            return (0, -1)
        lowest = self.young + 1
        if self.chunk >= older:
            return (lowest, self.pages)
        first = lowest if previous_first is None else previous_first + self.chunk
        if first > self.pages or first < lowest:
            first = lowest  # past the deepest page: start again at the young end
        return (first, min(self.pages, first + self.chunk - 1))


def plan_cadence(
    masses: Sequence[float],
    rate: float,
    min_interval: float,
    max_interval: float,
    max_gap: float,
    seconds_per_page: float,
    quantile: float = 0.99,
    beyond_wait: float = 60.0,
    min_pages: int | None = None,
) -> Cadence:
    """The cadence for `masses` (the share of orders ending at each page's ages, youngest first)
    spending at most `rate` requests a second, sweeping at least every `max_interval` and
    reading every page it plans at least every `max_gap`.

    It plans at least `min_pages` (default: all) if any cadence can, else as many as one can
    (the horizon shrinks; orders ending deeper are left to per-order polls, whose wait is taken
    as `beyond_wait`). Among those it takes the shortest wait for the `quantile` share of
    completions (what a tail-latency target measures), then the most pages, then the shortest
    expected wait, sum(mass x wait). At least the first page is always read."""
    if not masses:
        raise ValueError("need at least one page")
    if not (rate > 0 and 0 < min_interval <= max_interval <= max_gap and seconds_per_page > 0):
        raise ValueError("need rate and page span > 0, min_interval <= max_interval <= max_gap")
    weights = [max(0.0, m) if math.isfinite(m) else 0.0 for m in masses]
    prefix = [0.0]
    for w in weights:
        prefix.append(prefix[-1] + w)
    total = prefix[-1]
    wanted = len(weights)
    must = wanted if min_pages is None else max(1, min(wanted, min_pages))
    best: Cadence | None = None
    best_key: tuple[float, ...] = (math.inf,)
    for i in range(_INTERVAL_STEPS + 1):
        interval = min_interval + (max_interval - min_interval) * i / _INTERVAL_STEPS
        for cadence in _candidates(interval, rate, max_gap, seconds_per_page, len(weights)):
            key = _score(cadence, prefix, total, quantile, beyond_wait, must)
            if key < best_key:
                best, best_key = cadence, key
    if best is None:  # not even one page every max_interval fits the rate
        return Cadence(max(max_interval, 1.0 / rate), 1, 1)
    return best


def _candidates(
    interval: float, rate: float, max_gap: float, seconds_per_page: float, wanted: int
) -> list[Cadence]:
    """For each split of one sweep's pages into young pages and a chunk: the most pages that
    chunk keeps within `max_gap` (at most `wanted`)."""
    per_sweep = math.floor(rate * interval + 1e-9)
    drift = interval / seconds_per_page
    rounds = math.floor(max_gap / interval + 1e-9) - 1  # chunk steps within max_gap
    out = []
    for young in range(1, min(wanted, per_sweep) + 1):
        chunk = per_sweep - young
        older = chunk  # a chunk that covers the older tier reads it every sweep
        if chunk > drift and rounds >= 1:
            older = max(chunk, math.floor(rounds * (chunk - drift) + 1e-9))
        pages = min(wanted, young + older)
        cadence = Cadence(interval, young, pages, min(chunk, pages - young), drift)
        if cadence.longest_gap <= max_gap + 1e-9:
            out.append(cadence)
    return out


def _score(
    cadence: Cadence,
    prefix: Sequence[float],
    total: float,
    quantile: float,
    beyond_wait: float,
    must: int,
) -> tuple[float, ...]:
    fast = prefix[cadence.young]
    read = prefix[cadence.pages]
    gap = cadence.longest_gap
    if fast >= quantile * total:
        tail = cadence.interval
    elif read >= quantile * total:
        tail = gap
    else:
        tail = max(gap, beyond_wait)
    wait = fast * cadence.interval + (read - fast) * gap + (total - read) * beyond_wait
    short = max(0, must - cadence.pages)
    dropped = len(prefix) - 1 - cadence.pages
    return (short, dropped, round(tail, 6), wait, cadence.requests_per_second)
