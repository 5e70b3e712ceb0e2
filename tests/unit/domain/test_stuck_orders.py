"""The stuck-order ratio on constructed timelines (relay.domain.stuck_orders).

Timeline convention: `NOW` is the evaluation time; W = 600 s. The judged cohort is the orders
accepted in (NOW - 1200, NOW - 600]; an order is on time when the storefront accepted its terminal
webhook (outcome_at) at most 600 s after acceptance.
"""

from __future__ import annotations

import pytest

from relay.domain.stuck_orders import (
    DEFAULT_WINDOW_SECONDS,
    LedgerOrder,
    cohort_window,
    is_on_time,
    judge,
)

W = 600.0
NOW = 1_760_000_000.0  # an arbitrary evaluation instant (epoch seconds)


def accepted(
    order_id: str, at: float, done_after: float | None = None, **extra: object
) -> LedgerOrder:
    """Accepted at `at`; finished (webhook accepted) `done_after` seconds later, or never."""
    if done_after is None:
        return LedgerOrder(order_id=order_id, accepted_at=at, **extra)  # type: ignore[arg-type]
    return LedgerOrder(
        order_id=order_id,
        accepted_at=at,
        outcome="delivered",
        outcome_at=at + done_after,
        terminal_seen_at=at + done_after - 1,
        **extra,  # type: ignore[arg-type]
    )


def test_default_window_is_ten_minutes() -> None:
    assert DEFAULT_WINDOW_SECONDS == 600.0


def test_cohort_window_is_the_ten_minutes_ending_ten_minutes_ago() -> None:
    window = cohort_window(NOW, W)
    assert (window.start, window.end) == (NOW - 1200, NOW - 600)


def test_order_accepted_exactly_at_the_upper_boundary_is_judged_now() -> None:
    # accepted exactly W ago: its 10 minutes are up, so it belongs to this evaluation
    report = judge([accepted("a", NOW - W)], NOW, W)
    assert report.orders == 1
    assert report.stuck == 1  # never finished


def test_order_accepted_exactly_at_the_lower_boundary_belongs_to_the_previous_window() -> None:
    report = judge([accepted("a", NOW - 2 * W)], NOW, W)
    assert report.orders == 0
    assert report.ratio == 0.0


def test_order_one_millisecond_inside_the_lower_boundary_is_judged() -> None:
    report = judge([accepted("a", NOW - 2 * W + 0.001)], NOW, W)
    assert report.orders == 1


def test_order_younger_than_the_window_is_not_judged_yet() -> None:
    # accepted 9:59 ago and not finished: it still has one second, so it is not counted at all
    report = judge([accepted("a", NOW - W + 1)], NOW, W)
    assert report.orders == 0
    assert report.stuck == 0


def test_consecutive_evaluations_judge_each_order_exactly_once_per_window_length() -> None:
    # Windows one W apart tile time: an order on any boundary falls in exactly one of them.
    orders = [accepted(f"o{i}", NOW - 3000 + i * 37.5) for i in range(80)]
    counted: dict[str, int] = {}
    for step in range(-4, 2):  # windows tiling (NOW - 3600, NOW]
        report = judge(orders, NOW + step * W, W)
        for order_id in report.stuck_order_ids:
            counted[order_id] = counted.get(order_id, 0) + 1
    assert counted == {order.order_id: 1 for order in orders}


def test_order_completing_at_9_59_is_on_time() -> None:
    report = judge([accepted("a", NOW - 700, done_after=599)], NOW, W)
    assert (report.orders, report.stuck) == (1, 0)


def test_order_completing_at_10_01_is_stuck() -> None:
    report = judge([accepted("a", NOW - 700, done_after=601)], NOW, W)
    assert (report.orders, report.stuck) == (1, 1)
    assert report.stuck_order_ids == ("a",)


def test_order_completing_at_exactly_10_00_is_on_time() -> None:
    report = judge([accepted("a", NOW - 700, done_after=600)], NOW, W)
    assert (report.orders, report.stuck) == (1, 0)


def test_terminal_seen_but_webhook_not_accepted_is_stuck() -> None:
    # FoxReload said completed after 30 s, but the storefront never took the webhook
    order = LedgerOrder(order_id="a", accepted_at=NOW - 700, terminal_seen_at=NOW - 670)
    assert judge([order], NOW, W).stuck == 1


@pytest.mark.parametrize("outcome", ["delivered", "failed", "cancelled"])
def test_every_terminal_outcome_within_ten_minutes_is_on_time(outcome: str) -> None:
    order = LedgerOrder(order_id="a", accepted_at=NOW - 700, outcome=outcome, outcome_at=NOW - 650)
    assert judge([order], NOW, W).stuck == 0


def test_dead_lettered_order_counts_as_not_terminal() -> None:
    order = LedgerOrder(order_id="a", accepted_at=NOW - 700, dead_lettered_at=NOW - 640)
    report = judge([order, accepted("b", NOW - 700, done_after=20)], NOW, W)
    assert (report.orders, report.stuck) == (2, 1)
    assert report.stuck_order_ids == ("a",)


def test_dead_lettered_then_redriven_and_delivered_late_is_still_stuck() -> None:
    order = LedgerOrder(
        order_id="a",
        accepted_at=NOW - 1100,
        dead_lettered_at=NOW - 1000,
        outcome="delivered",
        outcome_at=NOW - 300,  # 800 s after acceptance
    )
    assert judge([order], NOW, W).stuck == 1


def test_redelivered_messages_count_once_because_the_ledger_has_one_item_per_order() -> None:
    # One order whose message SQS delivered three times (batch redelivery + a duplicate send):
    # the ledger keeps one item, and even if a caller passes copies they count once.
    first = accepted("a", NOW - 700)
    copies = [first, first, LedgerOrder(order_id="a", accepted_at=NOW - 700)]
    report = judge([*copies, accepted("b", NOW - 650, done_after=30)], NOW, W)
    assert (report.orders, report.stuck) == (2, 1)


def test_duplicate_entry_with_an_outcome_wins_over_a_stale_copy() -> None:
    stale = accepted("a", NOW - 700)
    finished = accepted("a", NOW - 700, done_after=100)
    assert judge([stale, finished], NOW, W).stuck == 0
    assert judge([finished, stale], NOW, W).stuck == 0


def test_redriven_order_keeps_its_first_acceptance_time() -> None:
    # A console redrive gives the message a new SentTimestamp, but accepted_at is set once:
    # the order is judged in its original cohort, not again in a later one.
    order = LedgerOrder(
        order_id="a",
        accepted_at=NOW - 3000,  # first accepted 50 minutes ago
        dead_lettered_at=NOW - 2000,
        outcome="delivered",
        outcome_at=NOW - 100,
    )
    assert judge([order], NOW, W).orders == 0


def test_finish_recorded_after_now_is_not_yet_seen() -> None:
    order = accepted("a", NOW - 610, done_after=5)
    skewed = LedgerOrder(
        order_id="b", accepted_at=NOW - 610, outcome="delivered", outcome_at=NOW + 1
    )
    report = judge([order, skewed], NOW, W)
    assert report.stuck_order_ids == ("b",)
    assert is_on_time(order, NOW, W)


def test_ratio_over_one_percent_of_a_hundred_orders() -> None:
    orders = [accepted(f"o{i:03d}", NOW - 1199 + i * 5, done_after=60) for i in range(98)]
    orders += [accepted("late1", NOW - 900, done_after=601), accepted("never", NOW - 800)]
    report = judge(orders, NOW, W)
    assert (report.orders, report.stuck) == (100, 2)
    assert report.ratio == pytest.approx(0.02)
    assert report.percent == pytest.approx(2.0)


def test_exactly_one_percent_is_the_threshold_not_above_it() -> None:
    orders = [accepted(f"o{i:03d}", NOW - 1000, done_after=10) for i in range(99)]
    orders.append(accepted("stuck", NOW - 1000))
    report = judge(orders, NOW, W)
    assert report.percent == pytest.approx(1.0)


def test_empty_cohort_has_ratio_zero() -> None:
    report = judge([], NOW, W)
    assert (report.orders, report.stuck, report.ratio, report.percent) == (0, 0, 0.0, 0.0)


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError):
        cohort_window(NOW, 0)
