"""The order population the benchmark runs over: when (and how) each order ends at FoxReload.

Why this mixture (every number is a parameter below, and docs/performance.md repeats them):
- FoxReload documents `paid` as lasting under 5 s and `processing` as 1-60 s, and says most
  happy-path orders complete within 60 s of payment. So the body of the population is a short
  payment/queue wait, uniform 0.3-4 s, followed by a processing time drawn from a log-normal
  (median 8 s, sigma 0.75) truncated to 1-60 s: right-skewed like most service times, with its
  mass in the first 20 s and a thin approach to the documented 60 s ceiling.
- "Most" is not "all": FoxReload's own advice keeps polling for up to 10 minutes, so 3 % of
  orders form a long tail: 60 s plus a log-normal of median 60 s and sigma 0.9 (median total
  about 2 minutes; about 0.2 % of the tail passes the relay's 15-minute deadline).
- A few percent end badly: 2.5 % fail during processing (log-normal, median 10 s) and 1.5 % are
  cancelled (payment failure / expiry, median 3 s).
- 0.5 % never reach a terminal status (stuck at the supplier): they cost polls until the
  deadline dead-letters them, which is what makes a schedule's long-run cost visible.
The shares are the project's assumptions, not FoxReload measurements; the bench prints them and
`--population heavy-tail` reruns the throughput table with a tail three times as heavy.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, replace

from relay.domain.events import TerminalStatus

# How an order ends: FoxReload's terminal statuses, as the relay names them.
COMPLETED = TerminalStatus.COMPLETED
FAILED = TerminalStatus.FAILED
CANCELLED = TerminalStatus.CANCELLED


@dataclass(frozen=True)
class PopulationModel:
    name: str = "default"
    pay_min: float = 0.3  # seconds from enqueue to `processing` (documented: paid < 5 s)
    pay_max: float = 4.0
    processing_median: float = 8.0
    processing_sigma: float = 0.75
    processing_min: float = 1.0  # documented range of `processing`
    processing_max: float = 60.0
    tail_share: float = 0.03
    tail_offset: float = 60.0
    tail_median: float = 60.0
    tail_sigma: float = 0.9
    failed_share: float = 0.025
    failed_median: float = 10.0
    failed_sigma: float = 1.0
    cancelled_share: float = 0.015
    cancelled_median: float = 3.0
    cancelled_sigma: float = 0.8
    never_share: float = 0.005
    create_to_enqueue: float = 0.5  # createdAt precedes the storefront's SendMessage by this

    def draw(self, rng: random.Random) -> tuple[float, str | None]:
        """(seconds from enqueue to the terminal status, that status); (inf, None) = never."""
        u = rng.random()
        pay = rng.uniform(self.pay_min, self.pay_max)
        if u < self.never_share:
            return math.inf, None
        u -= self.never_share
        if u < self.cancelled_share:
            return pay * 0.5 + rng.lognormvariate(
                math.log(self.cancelled_median), self.cancelled_sigma
            ), CANCELLED
        u -= self.cancelled_share
        if u < self.failed_share:
            return pay + rng.lognormvariate(math.log(self.failed_median), self.failed_sigma), FAILED
        u -= self.failed_share
        if u < self.tail_share:
            tail = rng.lognormvariate(math.log(self.tail_median), self.tail_sigma)
            return pay + self.tail_offset + tail, COMPLETED
        while True:
            processing = rng.lognormvariate(math.log(self.processing_median), self.processing_sigma)
            if self.processing_min <= processing <= self.processing_max:
                return pay + processing, COMPLETED

    def describe(self) -> dict[str, object]:
        return asdict(self)


DEFAULT = PopulationModel()
HEAVY_TAIL = replace(DEFAULT, name="heavy-tail", tail_share=0.09, never_share=0.015)
POPULATIONS = {p.name: p for p in (DEFAULT, HEAVY_TAIL)}
