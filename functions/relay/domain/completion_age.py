"""How old orders are when they end at FoxReload, learned online from what the sweep lists.

Every list page shows each order's age (`createdAt`) and whether it is terminal yet. Each listed
order is one observation of the completion-age distribution's CDF at its age: the share of
orders of age `a` that are terminal is F(a), the probability that an order ends by age `a`
(never-terminal orders included, so F levels off below 1). Counting, per age bin, how many
listed orders were seen and how many of those were terminal estimates F bin by bin.

Why this evidence and not "the age at which an order was first seen terminal": first sightings
only happen inside the sweep's horizon, so an estimate fed by them is cut off at the horizon and
can never tell that the tail goes on past it, which is exactly when the horizon must grow. The
share still pending at the deepest page read says so directly.

The counts decay with time and with observations (whichever is faster), so the estimate follows
a supplier that slows down or speeds up within a few minutes at any load. Bins are log-spaced:
the young ages where most orders end get fine bins, the tail coarse ones. Everything is pure and
the state is a few dozen numbers (one small DynamoDB item, `to_wire`/`from_wire`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

FIRST_EDGE: Final = 2.0  # seconds: the first bin is [0, 2)
LAST_EDGE: Final = 3600.0  # the last bin is [3600, MAX_AGE]
BINS: Final = 41
RATIO: Final = (LAST_EDGE / FIRST_EDGE) ** (1.0 / (BINS - 2))
MAX_AGE: Final = 86400.0  # older "ages" are clock trouble, not evidence: ignored
# Lower edge of each bin: 0, 2, 2r, 2r^2, ..., 3600.
LOWER_EDGES: Final = (0.0, *(FIRST_EDGE * RATIO**i for i in range(BINS - 2)), LAST_EDGE)
MIN_BIN_WEIGHT: Final = 10.0  # a bin with fewer (decayed) sightings says nothing yet
# The oldest bin the estimate trusts needs more: the share ended at the oldest ages seen decides
# whether the sweep reads deeper, and a thinly seen bin there would make it jump.
EDGE_WEIGHT: Final = 50.0
WIRE_VERSION: Final = "ca1"


def upper_edge(i: int) -> float:
    return LOWER_EDGES[i + 1] if i + 1 < BINS else MAX_AGE


def bin_of(age: float) -> int:
    if age < FIRST_EDGE:
        return 0
    i = 1 + math.floor(math.log(age / FIRST_EDGE) / math.log(RATIO) + 1e-12)
    # floating error near an edge: settle on the bin whose range holds the age
    i = min(BINS - 1, max(1, i))
    while i > 1 and age < LOWER_EDGES[i]:
        i -= 1
    while i + 1 < BINS and age >= LOWER_EDGES[i + 1]:
        i += 1
    return i


def bin_center(i: int) -> float:
    """Where a bin's share is placed on the age axis (geometric middle; the first bin's is 1 s)."""
    if i == 0:
        return FIRST_EDGE / 2
    return math.sqrt(LOWER_EDGES[i] * upper_edge(i))


@dataclass(frozen=True)
class Decay:
    """How fast old evidence fades: by half every `seconds`, and in each bin by half every
    `observations` sightings in that bin, whichever comes first."""

    seconds: float = 120.0
    observations: float = 500.0

    def __post_init__(self) -> None:
        if not (self.seconds > 0 and self.observations > 0):
            raise ValueError("half-lives must be positive")


def _zeros() -> tuple[float, ...]:
    return (0.0,) * BINS


@dataclass(frozen=True)
class CompletionAges:
    """Decayed sightings per age bin, and how many of them were terminal: the estimate of F."""

    seen: tuple[float, ...] = field(default_factory=_zeros)  # decayed sightings per age bin
    done: tuple[float, ...] = field(default_factory=_zeros)  # of those, terminal
    updated_at: float | None = None  # time of the last observation (for the time decay)

    def __post_init__(self) -> None:
        if len(self.seen) != BINS or len(self.done) != BINS:
            raise ValueError(f"need {BINS} bins")

    # -- learning ----------------------------------------------------------------------------
    def observe(
        self, sightings: Iterable[tuple[float, bool]], now: float, decay: Decay = Decay()
    ) -> CompletionAges:
        """Add listed orders seen at `now`: (age in seconds, terminal yet?). Ages that are not
        finite, negative or beyond MAX_AGE are ignored, as is a `now` that is not finite."""
        if not math.isfinite(now):
            return self
        seen = list(self.seen)
        done = list(self.done)
        if self.updated_at is not None and now > self.updated_at:
            fade = 0.5 ** ((now - self.updated_at) / decay.seconds)
            seen = [s * fade for s in seen]
            done = [d * fade for d in done]
        keep = 0.5 ** (1.0 / decay.observations)
        any_seen = False
        for age, terminal in sightings:
            if not (isinstance(age, int | float) and math.isfinite(age) and 0 <= age <= MAX_AGE):
                continue
            i = bin_of(float(age))
            seen[i] = seen[i] * keep + 1.0
            done[i] = done[i] * keep + (1.0 if terminal else 0.0)
            any_seen = True
        if not any_seen and self.updated_at is not None:
            return self  # nothing new: keep the clock where the evidence is
        updated = now if self.updated_at is None else max(now, self.updated_at)
        return CompletionAges(tuple(seen), tuple(done), updated)

    # -- queries -----------------------------------------------------------------------------
    def weight(self) -> float:
        """Decayed number of sightings behind the estimate (0: nothing learned)."""
        return sum(self.seen)

    def points(self) -> list[tuple[float, float]]:
        """(age, F(age)) at the centre of every bin with enough sightings, F made
        non-decreasing in age (pool-adjacent-violators, weighted by sightings)."""
        blocks: list[list[float]] = []  # [weighted share sum, weight, first index, last index]
        oldest = self._edge_bin()
        for i in range(oldest + 1):
            w = self.seen[i]
            if w < MIN_BIN_WEIGHT:
                continue
            share = min(1.0, max(0.0, self.done[i] / w))
            blocks.append([share * w, w, float(i), float(i)])
            while len(blocks) > 1 and (
                blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]
            ):
                last = blocks.pop()
                prev = blocks[-1]
                prev[0] += last[0]
                prev[1] += last[1]
                prev[3] = last[3]
        out: list[tuple[float, float]] = []
        for total, w, _first, _last in blocks:
            level = total / w
            for i in range(int(_first), int(_last) + 1):
                if self.seen[i] >= MIN_BIN_WEIGHT:
                    out.append((bin_center(i), level))
        return out

    def _edge_bin(self) -> int:
        for i in range(BINS - 1, -1, -1):
            if self.seen[i] >= EDGE_WEIGHT:
                return i
        return -1

    def edge(self) -> float | None:
        """The oldest age the evidence reaches (upper edge of the oldest well-seen bin)."""
        i = self._edge_bin()
        return None if i < 0 else upper_edge(i)

    def completed_by(self, age: float) -> float | None:
        """F(age): the share of orders terminal by `age`, interpolated between bins; flat past
        the oldest evidence. None with no evidence."""
        pts = self.points()
        if not pts:
            return None
        return _interpolate(pts, age)

    def mass(self, younger: float, older: float) -> float:
        """The share of orders ending at an age in [younger, older): what a page of those ages
        finds per order listed. 0 with no evidence."""
        pts = self.points()
        if not pts or older <= younger:
            return 0.0
        return max(0.0, _interpolate(pts, older) - _interpolate(pts, younger))

    def least_seen_age(self, older_than: float, up_to: float) -> float | None:
        """An age from `older_than` to `up_to` in the bin with the fewest (decayed) sightings,
        the youngest such bin on a tie: where a probe past the sweep's depth learns the most.
        None when the range is empty."""
        if not (math.isfinite(older_than) and math.isfinite(up_to)) or up_to <= older_than:
            return None
        best: int | None = None
        for i in range(BINS):
            if upper_edge(i) <= older_than or LOWER_EDGES[i] > up_to:
                continue
            if best is None or self.seen[i] < self.seen[best]:
                best = i
        if best is None:
            return None
        low = max(LOWER_EDGES[best], older_than)
        high = min(upper_edge(best), up_to)
        return min(high, max(low, bin_center(best)))

    def quantile(self, q: float, up_to: float = math.inf) -> float | None:
        """The age by which a share `q` of the orders that end within the observed ages, and by
        `up_to`, have ended (F normalised by its level at the oldest evidence or at `up_to`).
        None with no evidence. Orders ending beyond the observed ages are invisible here: a
        tail that goes on pushes the quantile towards the edge, which is how the sweep learns
        to read deeper. Orders ending after `up_to` (the relay's deadline: FoxReload cancelling
        orders that never end, hours later) are not part of what the sweep is for."""
        pts = self.points()
        if pts and up_to < pts[-1][0]:
            kept = [(a, f) for a, f in pts if a < up_to]
            pts = [*kept, (up_to, _interpolate(pts, up_to))]
        if not pts:
            return None
        top = pts[-1][1]
        if top <= 0:
            return pts[-1][0]
        target = min(1.0, max(0.0, q)) * top
        prev_age, prev_f = 0.0, 0.0
        for age, f in pts:
            if f >= target:
                if f <= prev_f:
                    return age
                return prev_age + (age - prev_age) * (target - prev_f) / (f - prev_f)
            prev_age, prev_f = age, f
        return pts[-1][0]

    def share_ending_after(self, age: float, up_to: float) -> float | None:
        """Of the orders that end by `up_to`, the share that ends after `age`
        ((F(up_to) - F(age)) / F(up_to)). None with no evidence or none ending by `up_to`."""
        top = self.completed_by(up_to)
        at_age = self.completed_by(min(age, up_to))
        if top is None or at_age is None or top <= 0:
            return None
        return max(0.0, top - at_age) / top

    def censored_at(self, age: float) -> CompletionAges:
        """The estimate without the evidence from bins that start at `age` or later."""
        keep = [LOWER_EDGES[i] < age for i in range(BINS)]
        seen = tuple(v if k else 0.0 for v, k in zip(self.seen, keep, strict=True))
        done = tuple(v if k else 0.0 for v, k in zip(self.done, keep, strict=True))
        return CompletionAges(seen, done, self.updated_at)

    # -- state ---------------------------------------------------------------------------------
    def to_wire(self) -> str:
        """A compact, lossless text form (repr of floats round-trips exactly)."""
        updated = "" if self.updated_at is None else repr(self.updated_at)
        return ";".join(
            [
                WIRE_VERSION,
                updated,
                ",".join(_num(v) for v in self.seen),
                ",".join(_num(v) for v in self.done),
            ]
        )

    @staticmethod
    def from_wire(text: str) -> CompletionAges:
        """The inverse of `to_wire`; ValueError on anything else."""
        parts = text.split(";")
        if len(parts) != 4 or parts[0] != WIRE_VERSION:
            raise ValueError("not a completion-age estimate")
        updated = float(parts[1]) if parts[1] else None
        seen = tuple(float(v) for v in parts[2].split(","))
        done = tuple(float(v) for v in parts[3].split(","))
        values = (*seen, *done, *(() if updated is None else (updated,)))
        if not all(math.isfinite(v) for v in values) or min(seen + done) < 0:
            raise ValueError("completion-age estimate has a bad number")
        return CompletionAges(seen, done, updated)


def _num(v: float) -> str:
    return "0" if v == 0 else repr(v)


def _interpolate(pts: list[tuple[float, float]], age: float) -> float:
    """F at `age` on the line through (0, 0) and `pts`; flat past the last point."""
    prev_age, prev_f = 0.0, 0.0
    for a, f in pts:
        if age <= a:
            if a <= prev_age:
                return f
            return prev_f + (f - prev_f) * (age - prev_age) / (a - prev_age)
        prev_age, prev_f = a, f
    return prev_f
