import pytest

from relay.domain.decision import (
    DeadLetter,
    Deliver,
    Limits,
    Reschedule,
    Timing,
    after_park,
    decide,
)
from relay.domain.foxreload_order import FoxOrder
from relay.domain.poll_outcome import Kind, PollOutcome
from relay.domain.schedule import RelayPolicy, SeedPolicy

LIMITS = Limits(give_up_after=900.0, not_found_grace=60.0, auth_failure_delay=120.0)
ORDER = FoxOrder("o-1", "completed", (), None, None, None, None)


def pending(status="processing"):
    return PollOutcome(Kind.PENDING, status=status)


@pytest.mark.parametrize(
    ("kind", "event"),
    [(Kind.COMPLETED, "order.delivered"), (Kind.FAILED, "order.failed"), (Kind.CANCELLED, "order.cancelled")],
)
def test_terminal_orders_are_delivered_even_past_the_deadline(kind, event):
    outcome = PollOutcome(kind, order=ORDER, status=kind.value)
    assert decide(outcome, Timing(99, 5000.0), LIMITS, RelayPolicy(), 0.5) == Deliver(event)


def test_pending_is_rescheduled_by_the_policy():
    action = decide(pending(), Timing(0, 1.0), LIMITS, SeedPolicy(), 0.0)
    assert action == Reschedule(3, "pending")


def test_retry_after_is_honoured():
    outcome = PollOutcome(Kind.THROTTLED, status="429", retry_after=40.0)
    action = decide(outcome, Timing(0, 1.0), LIMITS, RelayPolicy(), 0.0)
    assert isinstance(action, Reschedule)
    assert action.delay >= 40


def test_auth_failure_is_rescheduled_long_so_it_does_not_burn_receives():
    outcome = PollOutcome(Kind.AUTH_FAILED, status="401")
    action = decide(outcome, Timing(0, 1.0), LIMITS, RelayPolicy(), 0.0)
    assert isinstance(action, Reschedule)
    assert action.delay >= LIMITS.auth_failure_delay


def test_404_is_retried_within_the_grace_then_dead_lettered():
    outcome = PollOutcome(Kind.NOT_FOUND, status="404")
    assert isinstance(decide(outcome, Timing(2, 30.0), LIMITS, RelayPolicy(), 0.5), Reschedule)
    late = decide(outcome, Timing(9, 61.0), LIMITS, RelayPolicy(), 0.5)
    assert isinstance(late, DeadLetter)
    assert late.reason == "not_found"


def test_deadline_dead_letters_with_last_status_and_attempts():
    action = decide(pending("processing"), Timing(41, 900.0), LIMITS, RelayPolicy(), 0.5)
    assert isinstance(action, DeadLetter)
    assert action.reason == "deadline"
    assert "processing" in action.detail
    assert "42 attempts" in action.detail


def test_reschedule_never_sleeps_past_the_deadline():
    action = decide(pending(), Timing(5, 895.0), LIMITS, SeedPolicy(), 0.9)
    assert action == Reschedule(5, "pending")


def test_api_errors_are_rescheduled_not_dead_lettered():
    outcome = PollOutcome(Kind.API_ERROR, status="502", error_kind="ServerError")
    assert isinstance(decide(outcome, Timing(3, 100.0), LIMITS, RelayPolicy(), 0.1), Reschedule)


def test_a_parked_order_waits_for_the_probe_within_the_delivery_window_then_is_dead_lettered():
    limits = Limits(
        give_up_after=900, not_found_grace=60, auth_failure_delay=120, delivery_window=600
    )
    timing = Timing(attempt=7, elapsed=2000.0)
    parked = after_park(timing, limits, since_terminal=599.0, wait=31.0)
    assert isinstance(parked, Reschedule) and parked.reason == "parked"
    assert parked.delay >= 31
    closed = after_park(timing, limits, since_terminal=600.0, wait=31.0)
    assert isinstance(closed, DeadLetter) and closed.reason == "webhook_unavailable"
    assert "8 attempts" in closed.detail
