"""Every name that more than one side must agree on: metrics, dimensions, ledger attributes.

The Lambda code emits these, the CDK stack alarms on them, the local stack and the operator CLI
read them. Import from here; never retype a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

SERVICE_NAME: Final = "foxreload-relay"
METRICS_NAMESPACE: Final = "FoxReloadRelay"
# Every metric is emitted with exactly this one dimension (Powertools adds `service`).
SERVICE_DIMENSION: Final = "service"

# Powertools' environment for every relay function, deployed (stacks/relay_stack.py) or local
# (local_stack): one definition, importable without aws_cdk. Codes must never reach logs or
# traces: no event logging, and the tracer does not record handler responses (they could carry
# codes). Merge it into a Lambda environment with `{**settings.to_env(), **POWERTOOLS_ENVIRONMENT}`.
POWERTOOLS_ENVIRONMENT: Final[Mapping[str, str]] = {
    "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
    "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_LOGGER_LOG_EVENT": "false",
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
}


# The only libraries X-Ray instruments: AWS SDK calls. httpx is left alone so no trace header
# (X-Amzn-Trace-Id) is added to requests to FoxReload or the storefront, which are third parties.
TRACED_MODULES: Final = ("botocore",)


class Metric:
    """Metric names (CloudWatch, namespace METRICS_NAMESPACE, dimension service=SERVICE_NAME)."""

    ORDERS_ACCEPTED: Final = "OrdersAccepted"
    ORDERS_DELIVERED: Final = "OrdersDelivered"
    ORDERS_FAILED: Final = "OrdersFailed"
    ORDERS_CANCELLED: Final = "OrdersCancelled"
    ORDERS_DEAD_LETTERED: Final = "OrdersDeadLettered"
    POISON_MESSAGES: Final = "PoisonMessages"
    POLL_ATTEMPTS: Final = "PollAttempts"
    API_ERRORS: Final = "ApiErrors"  # total of every ApiErrors<Kind>
    THROTTLED: Final = "Throttled"
    AUTH_FAILURES: Final = "AuthFailures"
    UNKNOWN_STATUS: Final = "UnknownStatus"
    DELIVERY_LAG_SECONDS: Final = "DeliveryLagSeconds"
    TIME_TO_DELIVER_SECONDS: Final = "TimeToDeliverSeconds"
    WEBHOOK_RETRIES: Final = "WebhookRetries"
    # Two workers saw one order terminal at once; the ledger's claim let only one send.
    DUPLICATE_SUPPRESSED: Final = "DuplicateSuppressed"
    # A message for an order whose outcome is already recorded, dropped without an API call:
    # the sweep delivered it first (most of them while the sweep runs), or the message came again.
    SETTLED_ORDER_MESSAGES: Final = "SettledOrderMessages"
    BALANCE_FAILURE_SIGNALS: Final = "BalanceFailureSignals"
    SWEEP_DEFERRALS: Final = "SweepDeferrals"  # per-order polls skipped: the sweep covers them
    BUDGET_WAITS: Final = "BudgetWaits"  # per-order polls postponed for the shared request budget
    SWEEP_REQUESTS: Final = "SweepRequests"  # list pages read by the sweeper
    SWEEP_FOUND: Final = "SweepFound"  # terminal orders of ours the sweeper found undelivered
    # One order of a sweep page failed unexpectedly; the rest of the page went on.
    SWEEP_RECORD_ERRORS: Final = "SweepRecordErrors"
    # A totalPrice that is not a finite amount in [0, MAX_PRICE]: ignored (delivery goes on).
    PRICES_IGNORED: Final = "PricesIgnored"
    # A Retry-After above RETRY_AFTER_CAP_SECONDS (FoxReload or the storefront): obeyed only up
    # to the cap.
    LONG_BACK_OFFS: Final = "LongBackOffs"
    # A secret refresh failed and the last good value was used instead.
    SECRET_STALE_READS: Final = "SecretStaleReads"  # noqa: S105 - a metric name
    # The storefront answered 401/403 to a webhook: usually a webhook-secret rotation half done.
    WEBHOOK_AUTH_FAILURES: Final = "WebhookAuthFailures"
    # Seconds since enqueue of a message that waited for the request budget (the backlog's age).
    BACKLOG_AGE_SECONDS: Final = "BacklogAgeSeconds"
    # Storefront circuit breaker: 1 per check that found it open (the pager's metric), and
    # deliveries parked without an API request while it was.
    STOREFRONT_UNAVAILABLE: Final = "StorefrontUnavailable"
    DELIVERIES_PARKED: Final = "DeliveriesParked"
    # balance monitor and stuck-order monitor
    ESTIMATED_BALANCE: Final = "EstimatedBalance"
    SPEND_24H: Final = "Spend24h"
    RUNWAY_HOURS: Final = "RunwayHours"
    # 1 when the balance monitor has neither a balance endpoint nor an operator record to
    # estimate from (LowBalance cannot fire), else 0; published every balance check.
    BALANCE_UNKNOWN: Final = "BalanceUnknown"
    STUCK_ORDER_RATIO: Final = "StuckOrderRatio"
    STUCK_ORDERS: Final = "StuckOrders"
    ORDERS_IN_STUCK_WINDOW: Final = "OrdersInStuckWindow"


class ApiErrorKind:
    """Values of the per-kind API error metrics: `ApiErrors<Kind>` (e.g. ApiErrorsServerError)."""

    SERVER_ERROR: Final = "ServerError"
    TIMEOUT: Final = "Timeout"
    CONNECTION: Final = "Connection"
    MALFORMED: Final = "Malformed"
    NOT_FOUND: Final = "NotFound"
    CLIENT_ERROR: Final = "ClientError"

    ALL: Final = (SERVER_ERROR, TIMEOUT, CONNECTION, MALFORMED, NOT_FOUND, CLIENT_ERROR)


class AlarmThreshold:
    """Thresholds the stack alarms on and the monitors report against: one source of truth."""

    # StuckOrderRatio is emitted in percent (0-100, unit Percent), once a minute.
    STUCK_RATIO_PERCENT: Final = 1.0  # alarm when StuckOrderRatio > this ...
    STUCK_EVALUATION_PERIODS: Final = 2  # ... for 2 of 2 one-minute periods
    STUCK_WINDOW_SECONDS: Final = 600  # "not terminal within 10 minutes"
    # Low balance: EstimatedBalance < LOW_BALANCE_SPEND_MULTIPLE x Spend24h (the seed's rule).
    LOW_BALANCE_SPEND_MULTIPLE: Final = 2


def api_error_metric(kind: str) -> str:
    return f"{Metric.API_ERRORS}{kind}"


class Ledger:
    """DynamoDB ledger layout. One item per FoxReload order; codes are never stored."""

    PARTITION_KEY: Final = "order_id"
    TTL_ATTRIBUTE: Final = "expires_at"
    # Index over acceptance time, for the stuck-orders monitor: partition = accepted hour bucket.
    ACCEPTED_INDEX: Final = "by-accepted-hour"
    ACCEPTED_INDEX_PARTITION: Final = "accepted_hour"
    ACCEPTED_INDEX_SORT: Final = "accepted_at"
    # Sparse index over charge time, for the balance monitor: only orders the relay saw
    # completed or failed (FoxReload charged them) carry `charged_hour`, written with the first
    # delivery claim. Partition = UTC hour of terminal_seen_at, sort = terminal_seen_at.
    SPEND_INDEX: Final = "by-charged-hour"
    SPEND_INDEX_PARTITION: Final = "charged_hour"
    SPEND_INDEX_SORT: Final = "terminal_seen_at"
    SPEND_INDEX_ATTRIBUTES: Final = ("total_price",)
    # Sparse index over the storefront's reference, for the operator CLI (`show --ref`): only
    # orders whose message carried a storefront_ref are in it. Keys only: the CLI reads each
    # item it finds. Partition = storefront_ref, sort = accepted_at.
    STOREFRONT_REF_INDEX: Final = "by-storefront-ref"
    STOREFRONT_REF_INDEX_PARTITION: Final = "storefront_ref"
    STOREFRONT_REF_INDEX_SORT: Final = "accepted_at"
    # The balance monitor's per-hour spend sums for hours that can no longer change, at
    # "#spend-hour#YYYYMMDDHH" (relay.adapters.spend_index).
    SPEND_HOUR_PREFIX: Final = "#spend-hour#"
    # Item attributes (an order's item; keys starting with '#' are reserved for non-order items,
    # which can never collide with a valid order id).
    STOREFRONT_REF: Final = "storefront_ref"
    # An index key cannot be the empty string: an empty storefront_ref (valid in the message) is
    # kept as this flag instead, so the webhook still echoes "" whoever delivers it.
    STOREFRONT_REF_EMPTY: Final = "storefront_ref_empty"
    ACCEPTED_AT: Final = "accepted_at"  # epoch seconds: SentTimestamp of the first message seen
    ACCEPTED_HOUR: Final = "accepted_hour"  # "YYYYMMDDHH" (UTC) of accepted_at
    CHARGED_HOUR: Final = "charged_hour"  # "YYYYMMDDHH" (UTC) of terminal_seen_at, if charged
    LEASE_OWNER: Final = "lease_owner"
    LEASE_UNTIL: Final = "lease_until"  # epoch seconds
    OUTCOME: Final = "outcome"  # a relay.domain.events.LedgerOutcome: set once, never changed
    OUTCOME_EVENT: Final = "outcome_event"  # webhook event name
    OUTCOME_AT: Final = "outcome_at"  # epoch seconds: storefront accepted the webhook
    TERMINAL_SEEN_AT: Final = "terminal_seen_at"  # epoch seconds: relay first saw it terminal
    TOTAL_PRICE: Final = "total_price"  # FoxReload totalPrice at terminal status
    CANCEL_REASON: Final = "cancel_reason"
    LAST_STATUS: Final = "last_status"
    LAST_MESSAGE_AT: Final = "last_message_at"  # SentTimestamp of the latest message received
    WEBHOOK_REJECTED_AT: Final = "webhook_rejected_at"  # the storefront refused it for good
    DEAD_LETTERED_AT: Final = "dead_lettered_at"
    DEAD_LETTER_REASON: Final = "dead_letter_reason"
    # The newest webhook attempts (relay.domain.attempt_log), oldest first: a list of maps
    # {n, at, actor, status | failure, ms}, rewritten whole with each attempt; and the number
    # of the newest one (the operator's conditional append reads it).
    ATTEMPT_LOG: Final = "attempt_log"
    LAST_ATTEMPT: Final = "last_attempt"
    # Non-key attributes the stuck-order monitor reads through ACCEPTED_INDEX: the index must
    # project at least these (projection INCLUDE with this list, or ALL).
    ACCEPTED_INDEX_ATTRIBUTES: Final = (
        "outcome",
        "outcome_at",
        "terminal_seen_at",
        "total_price",
        "cancel_reason",
        "dead_lettered_at",
    )
    # Operator balance records (relay.adapters.balance_store): the current basis lives at this
    # key, each record also at "#balance#<recorded_at ms>#<record id>" (kept for history).
    BALANCE_KEY: Final = "#balance"


class DeadLetterAttr:
    """Message attributes the relay puts on a dead letter (the body stays byte for byte)."""

    REASON: Final = "relay.reason"
    DETAIL: Final = "relay.detail"
    ATTEMPTS: Final = "relay.attempts"
    LAST_STATUS: Final = "relay.last_status"
    FIRST_SEEN: Final = "relay.first_seen"
    ORDER_ID: Final = "relay.order_id"
