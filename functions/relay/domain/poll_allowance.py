"""Per-order polls without the shared token bucket, while their demand is far below the key.

A token take is a DynamoDB read and a conditional write before every per-order poll. Near the
key's limit that buys pacing instead of 429s; at a few hundred orders an hour it buys nothing
and costs more than the SQS traffic of the poll. The sweeper measures the arrival rate and
forecasts per-order polling at every look (relay.domain.sweep_economics), so it is the one that
knows: while no sweep runs and the forecast per-order demand stays within `UNMETERED_KEY_SHARE`
of the key, it grants the pollers an allowance to poll without a token, for a lease a little
longer than the time to its next look. The headroom is what load may add before that look sees
it: at half the key, the arrivals can double within a lease and still fit, and the arrival rate
counts the last two minutes on their own, so a larger jump is seen at the next look (and the
first 429 it causes ends the allowance at once).

A 429 anywhere revokes the allowance at once (every poller reads it within its coverage cache)
and the sweeper does not grant it again for `HOLD_AFTER_REVOKE_SECONDS`: the pollers are paced by
the bucket, whose back-off the 429 also wrote.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

UNMETERED_KEY_SHARE = 0.5
# The sweeper looks every half minute while it runs and once a minute (its schedule) otherwise:
# a lease of two and a half minutes survives one missed scheduled run, not two.
LEASE_SECONDS = 150.0
HOLD_AFTER_REVOKE_SECONDS = 600.0


@dataclass(frozen=True)
class Allowance:
    """What the sweeper granted: unmetered per-order polls before `until` (epoch seconds);
    `revoked_at`: the last 429 that took it back (None: never)."""

    until: float = 0.0
    revoked_at: float | None = None

    def unmetered(self, now: float) -> bool:
        return now < self.until


def demand_fits(requests_per_hour: float, requests_per_hour_limit: float) -> bool:
    """Is per-order polling's forecast demand low enough to skip the bucket?"""
    if not math.isfinite(requests_per_hour) or requests_per_hour < 0:
        return False
    return requests_per_hour <= UNMETERED_KEY_SHARE * max(0.0, requests_per_hour_limit)


def next_allowance(
    current: Allowance,
    *,
    sweeping: bool,
    requests_per_hour: float,
    requests_per_hour_limit: float,
    now: float,
) -> Allowance:
    """The allowance after one look of the sweeper.

    `sweeping`: a sweep runs or is handing over (it spends its share of the key meanwhile);
    `requests_per_hour`: forecast per-order requests at the measured arrival rate. Granted or
    renewed only while nothing sweeps, the demand fits and no 429 came within the hold; ended at
    once otherwise. The revocation instant is kept either way."""
    held = current.revoked_at is not None and now - current.revoked_at < HOLD_AFTER_REVOKE_SECONDS
    if sweeping or held or not demand_fits(requests_per_hour, requests_per_hour_limit):
        return Allowance(0.0, current.revoked_at)
    return Allowance(now + LEASE_SECONDS, current.revoked_at)


def revoked(now: float) -> Allowance:
    """After a 429: nothing unmetered, and no new grant for the hold."""
    return Allowance(0.0, now)
