"""Small shared items beside the orders in the ledger table (keys start with '#', which no valid
order id can): the API key's shared request budget, the sweeper's coverage heartbeat (and its
allowance to poll unmetered), the sweeper's single-runner lease and its completion-age estimate.
Every write is conditional or idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from relay.adapters.dynamo_expressions import UpdateExpression
from relay.adapters.ledger import condition_failed, number
from relay.domain.completion_age import CompletionAges
from relay.domain.coverage import Coverage
from relay.domain.fair_budget import NEVER, FairState, Lane, LaneState
from relay.domain.poll_allowance import Allowance
from relay.domain.rate_budget import BucketState
from relay.domain.storefront_breaker import BreakerState
from relay.names import Ledger as LedgerNames

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BUDGET_KEY: Final = "#rate-budget"
COVERAGE_KEY: Final = "#sweep-coverage"
SWEEPER_LEASE_KEY: Final = "#sweeper-lease"
BREAKER_KEY: Final = "#storefront-breaker"
COMPLETION_AGES_KEY: Final = "#completion-ages"


@dataclass(frozen=True)
class StoredBreaker:
    """The storefront breaker's item as read, with the version a conditional write checks."""

    state: BreakerState
    version: int  # 0: never written (closed)


@dataclass(frozen=True)
class StoredBucket:
    """The per-order token buckets' item as read, with the version a conditional write checks."""

    state: FairState | None  # None: never written (full buckets)
    version: int


class CoordinationTable:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._db = client
        self._table = table_name

    # -- shared request budget -------------------------------------------------------------
    def read_bucket(self) -> StoredBucket:
        """The per-order pollers' two lanes (relay.domain.fair_budget), one item."""
        item = self._get(BUDGET_KEY)
        if item is None or "new_tokens" not in item:
            return StoredBucket(None, 0 if item is None else int(item["version"]["N"]))
        state = FairState(_lane_from(item, Lane.NEW), _lane_from(item, Lane.OLD))
        return StoredBucket(state, int(item["version"]["N"]))

    def write_bucket(self, state: FairState, expected_version: int) -> bool:
        """Store the lanes if nobody wrote them since we read `expected_version`."""
        expression = _next_version(expected_version)
        for lane in Lane:
            lane_state = state.lane(lane)
            prefix = lane.value
            # DynamoDB has no infinity: 0 stands for "never refused" (epoch 0 is long past).
            starved = lane_state.starved_at if lane_state.starved_at > 0 else 0.0
            expression.set(f"{prefix}_tokens", {"N": number(lane_state.bucket.tokens)})
            expression.set(f"{prefix}_updated_at", {"N": number(lane_state.bucket.updated_at)})
            expression.set(f"{prefix}_starved_at", {"N": number(starved)})
        return self._update_if(BUDGET_KEY, expression)

    # -- storefront circuit breaker -------------------------------------------------------------
    def read_breaker(self) -> StoredBreaker:
        item = self._get(BREAKER_KEY)
        if item is None:
            return StoredBreaker(BreakerState(), 0)
        open_since = item.get("open_since")
        state = BreakerState(
            failures=int(item["failures"]["N"]),
            open_since=None if open_since is None else float(open_since["N"]),
            next_probe_at=float(item["next_probe_at"]["N"]),
        )
        return StoredBreaker(state, int(item["version"]["N"]))

    def write_breaker(self, state: BreakerState, expected_version: int) -> bool:
        """Store the breaker if nobody wrote it since we read `expected_version`."""
        expression = (
            _next_version(expected_version)
            .set("failures", {"N": str(state.failures)})
            .set("next_probe_at", {"N": number(state.next_probe_at)})
        )
        if state.open_since is None:
            expression.remove("open_since")
        else:
            expression.set("open_since", {"N": number(state.open_since)})
        return self._update_if(BREAKER_KEY, expression)

    # -- sweep coverage ----------------------------------------------------------------------
    def read_coverage(self) -> Coverage | None:
        """The last sweep's heartbeat and the allowance (an item holding only an allowance,
        written before any sweep, covers nothing)."""
        item = self._get(COVERAGE_KEY)
        if item is None:
            return None
        share = item.get("sweep_share")
        allowance = _allowance_from(item)
        if "swept_at" not in item:
            return Coverage(swept_at=0.0, horizon=0.0, interval=1.0, allowance=allowance)
        return Coverage(
            swept_at=float(item["swept_at"]["N"]),
            horizon=float(item["horizon"]["N"]),
            interval=float(item["interval"]["N"]),
            sweep_share=None if share is None else float(share["N"]),
            allowance=allowance,
        )

    def write_allowance(self, allowance: Allowance, read: Allowance) -> bool:
        """The sweeper's grant (or end) of unmetered per-order polls, unless a 429 revoked the
        allowance since the sweeper read it as `read` (then the revocation stands)."""
        expression = UpdateExpression().set("unmetered_until", {"N": number(allowance.until)})
        name = expression.name("unmetered_revoked_at")
        if read.revoked_at is None:
            expression.condition(f"attribute_not_exists({name})")
        else:
            value = expression.value({"N": number(read.revoked_at)})
            expression.condition(f"{name} = {value}")
        return self._update_if(COVERAGE_KEY, expression)

    def revoke_allowance(self, now: float) -> None:
        """A 429: no poller polls unmetered from now on (each reads this within its cache)."""
        expression = (
            UpdateExpression()
            .set("unmetered_until", {"N": "0"})
            .set("unmetered_revoked_at", {"N": number(now)})
        )
        self._update_if(COVERAGE_KEY, expression)

    def write_coverage(self, coverage: Coverage) -> None:
        """Only ever moves forward: an older sweep finishing late cannot overwrite a newer one."""
        expression = (
            UpdateExpression()
            .set("horizon", {"N": number(coverage.horizon)})
            .set("interval", {"N": number(coverage.interval)})
        )
        if coverage.sweep_share is None:
            expression.remove("sweep_share")
        else:
            expression.set("sweep_share", {"N": number(coverage.sweep_share)})
        swept_at = {"N": number(coverage.swept_at)}
        expression.set("swept_at", swept_at)
        name, value = expression.name("swept_at"), expression.value(swept_at)
        expression.condition(f"attribute_not_exists({name}) OR {name} <= {value}")
        self._update_if(COVERAGE_KEY, expression)

    # -- completion-age estimate ----------------------------------------------------------------
    def read_completion_estimate(self) -> CompletionAges | None:
        """The sweeper's last saved estimate; None if never written or unreadable (a sweeper
        then starts from the configured plan and learns again)."""
        item = self._get(COMPLETION_AGES_KEY)
        if item is None or "ages" not in item:
            return None
        try:
            return CompletionAges.from_wire(item["ages"]["S"])
        except (ValueError, KeyError):
            return None

    def write_completion_estimate(self, estimate: CompletionAges) -> None:
        """Only the lease holder writes it; a newer estimate is never replaced by an older one
        (a sweeper finishing late after a handover)."""
        updated = estimate.updated_at if estimate.updated_at is not None else 0.0
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(COMPLETION_AGES_KEY),
                UpdateExpression="SET ages = :a, updated_at = :u",
                ConditionExpression="attribute_not_exists(updated_at) OR updated_at <= :u",
                ExpressionAttributeValues={
                    ":a": {"S": estimate.to_wire()},
                    ":u": {"N": number(updated)},
                },
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise

    # -- sweeper lease -------------------------------------------------------------------------
    def hold_sweeper_lease(self, owner: str, now: float, until: float) -> bool:
        """Take or renew the single-sweeper lease; False while another sweeper holds it. A
        taken lease starts a chain of ticks at turn 0 (relay.domain.sweep_tick)."""
        expression = (
            UpdateExpression()
            .set("lease_owner", {"S": owner})
            .set("lease_until", {"N": number(until)})
            .set("chain_turn", {"N": "0"})
        )
        lease_until, lease_owner = expression.name("lease_until"), expression.name("lease_owner")
        expression.condition(
            f"attribute_not_exists({lease_until}) "
            f"OR {lease_until} < {expression.value({'N': number(now)})} "
            f"OR {lease_owner} = {expression.value({'S': owner})}"
        )
        return self._update_if(SWEEPER_LEASE_KEY, expression)

    def take_turn(self, owner: str, turn: int, until: float) -> bool:
        """A tick's run continues its chain: the lease is still `owner`'s and nobody took turn
        `turn` + 1 yet (a duplicate tick, or a chain whose lease was taken over, gets False)."""
        expression = (
            UpdateExpression()
            .set("chain_turn", {"N": str(turn + 1)})
            .set("lease_until", {"N": number(until)})
        )
        lease_owner, chain_turn = expression.name("lease_owner"), expression.name("chain_turn")
        expression.condition(
            f"{lease_owner} = {expression.value({'S': owner})} "
            f"AND {chain_turn} = {expression.value({'N': str(turn)})}"
        )
        return self._update_if(SWEEPER_LEASE_KEY, expression)

    def release_sweeper_lease(self, owner: str) -> None:
        expression = UpdateExpression().remove("lease_owner", "lease_until")
        expression.condition(f"{expression.name('lease_owner')} = {expression.value({'S': owner})}")
        self._update_if(SWEEPER_LEASE_KEY, expression)

    def _update_if(self, key: str, expression: UpdateExpression) -> bool:
        """The conditional write; False when its condition did not hold."""
        try:
            self._db.update_item(TableName=self._table, Key=_key(key), **expression.arguments())
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def _get(self, key: str) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=self._table, Key=_key(key), ConsistentRead=True).get(
            "Item"
        )
        return None if item is None else dict(item)


def _next_version(expected_version: int) -> UpdateExpression:
    """An optimistic write: the next version, if nobody wrote since `expected_version`."""
    expression = UpdateExpression().set("version", {"N": str(expected_version + 1)})
    version = expression.name("version")
    expected = expression.value({"N": str(expected_version)})
    return expression.condition(f"attribute_not_exists({version}) OR {version} = {expected}")


def _lane_from(item: dict[str, Any], lane: Lane) -> LaneState:
    prefix = lane.value
    starved = float(item[f"{prefix}_starved_at"]["N"])
    return LaneState(
        BucketState(float(item[f"{prefix}_tokens"]["N"]), float(item[f"{prefix}_updated_at"]["N"])),
        starved_at=starved if starved > 0 else NEVER,
    )


def _allowance_from(item: dict[str, Any]) -> Allowance:
    until = item.get("unmetered_until")
    revoked_at = item.get("unmetered_revoked_at")
    return Allowance(
        until=0.0 if until is None else float(until["N"]),
        revoked_at=None if revoked_at is None else float(revoked_at["N"]),
    )


def _key(value: str) -> dict[str, Any]:
    return {LedgerNames.PARTITION_KEY: {"S": value}}
