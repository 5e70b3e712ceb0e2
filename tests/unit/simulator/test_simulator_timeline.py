"""The order state machine and timing model, as pure functions."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import timeline as tl
from simulator.timeline import TimingModel, Transition

T0 = 1_700_000_000.0


def test_current_picks_last_transition_whose_time_has_come():
    timeline = [
        Transition("active", T0),
        Transition("paid", T0 + 1),
        Transition("completed", T0 + 5),
    ]
    assert tl.current(timeline, T0 - 1).status == "active"
    assert tl.current(timeline, T0).status == "active"
    assert tl.current(timeline, T0 + 1).status == "paid"
    assert tl.current(timeline, T0 + 4.99).status == "paid"
    assert tl.current(timeline, T0 + 5).status == "completed"
    assert tl.current(timeline, T0 + 1e6).status == "completed"


@pytest.mark.parametrize(
    "bad",
    [
        [Transition("processing", T0), Transition("paid", T0 + 1)],
        [Transition("completed", T0), Transition("failed", T0 + 1)],
        [Transition("active", T0 + 1), Transition("paid", T0)],
        [Transition("active", T0), Transition("weird", T0 + 1)],
        [Transition("paid", T0, "user_request")],
        [],
    ],
)
def test_validate_rejects_backward_or_broken_timelines(bad):
    with pytest.raises(tl.TimelineError):
        tl.validate(bad)


def test_initial_timeline_expires_unpaid_orders():
    timeline = tl.initial_timeline(T0, 900)
    assert tl.current(timeline, T0 + 899).status == "active"
    expired = tl.current(timeline, T0 + 900)
    assert (expired.status, expired.cancel_reason) == ("cancelled", "payment_expiration")


def test_replace_future_keeps_the_past_and_refuses_to_rewrite_it():
    timeline = tl.initial_timeline(T0, 900)
    paid = tl.replace_future(
        timeline, T0 + 10, [Transition("paid", T0 + 10), Transition("completed", T0 + 20)]
    )
    assert [t.status for t in paid] == ["active", "paid", "completed"]
    with pytest.raises(tl.TimelineError):
        tl.replace_future(paid, T0 + 30, [Transition("processing", T0 + 25)])
    with pytest.raises(tl.TimelineError):
        tl.replace_future(paid, T0 + 30, [Transition("paid", T0 + 31)])


def test_scripted_timeline_is_relative_to_creation_and_forward_only():
    timeline = tl.scripted_timeline(T0, [("processing", 0, None), ("completed", 2.0, None)])
    assert tl.current(timeline, T0).status == "processing"
    assert tl.current(timeline, T0 + 2).status == "completed"
    cancelled = tl.scripted_timeline(T0, [("cancelled", 1.0, "payment_failure")])
    assert tl.current(cancelled, T0 + 1).cancel_reason == "payment_failure"
    with pytest.raises(tl.TimelineError):
        tl.scripted_timeline(T0, [("completed", 1.0, None), ("processing", 2.0, None)])
    with pytest.raises(tl.TimelineError):
        tl.scripted_timeline(T0, [("processing", -1.0, None)])


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    items=st.integers(1, 10),
    probes=st.lists(st.floats(0, 2000), max_size=30),
)
def test_sampled_timelines_only_move_forward(seed, items, probes):
    model = TimingModel(
        failed_share=0.2, cancelled_share=0.2, stuck_share=0.2, partial_item_error_share=0.5
    )
    rng = random.Random(seed)
    outcome = tl.plan_after_payment(model, T0 + 5, items, rng)
    timeline = tl.replace_future(tl.initial_timeline(T0, 900), T0 + 5, outcome.transitions)
    tl.validate(timeline)
    seen = [tl.rank(tl.current(timeline, T0 + p).status) for p in sorted(probes)]
    assert seen == sorted(seen)
    assert all(0 <= i < items for i in outcome.failed_items)


def test_default_model_shape():
    model = TimingModel()
    rng = random.Random(7)
    outcomes = [tl.plan_after_payment(model, 0.0, 1, rng) for _ in range(20_000)]
    paid_for, processing_for, ends = [], [], []
    for o in outcomes:
        by_status = {t.status: t.at for t in o.transitions}
        if "processing" in by_status:
            paid_for.append(by_status["processing"] - by_status["paid"])
        if "completed" in by_status:
            processing_for.append(by_status["completed"] - by_status["processing"])
        ends.append(o.transitions[-1].status)
    assert max(paid_for) < 5.0
    assert min(processing_for) >= 1.0 - 1e-9
    within_a_minute = sum(1 for s in processing_for if s <= 60) / len(processing_for)
    assert 0.9 < within_a_minute < 0.99  # most within 60 s, with a long tail
    assert max(processing_for) > 60
    share = {s: ends.count(s) / len(ends) for s in set(ends)}
    assert 0.96 < share["completed"] < 0.99
    assert 0.005 < share["failed"] < 0.015
    assert 0.005 < share["cancelled"] < 0.015
    assert 0.002 < share["processing"] < 0.01  # never completing


def test_processing_seconds_respects_bounds():
    model = TimingModel(tail_share=0.5)
    rng = random.Random(1)
    samples = [tl.processing_seconds(model, rng) for _ in range(5000)]
    assert min(samples) >= model.processing_min
    assert max(samples) <= model.tail_max


def test_payment_failure_cancels_before_processing():
    model = TimingModel(
        cancelled_share=1.0,
        failed_share=0,
        stuck_share=0,
        cancel_reasons=(("payment_failure", 1.0),),
    )
    outcome = tl.plan_after_payment(model, 0.0, 2, random.Random(3))
    assert [t.status for t in outcome.transitions] == ["paid", "cancelled"]
    assert outcome.transitions[-1].cancel_reason == "payment_failure"


def test_fast_model_completes_everything_quickly():
    model = TimingModel.fast()
    rng = random.Random(2)
    for _ in range(500):
        o = tl.plan_after_payment(model, 0.0, 3, rng)
        assert o.transitions[-1].status == "completed"
        assert o.transitions[-1].at <= 3.5
        assert not o.failed_items


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failed_share": 0.6, "cancelled_share": 0.6},
        {"paid_min": 3, "paid_max": 2},
        {"processing_min": 0},
    ],
)
def test_model_rejects_nonsense(kwargs):
    with pytest.raises(ValueError):
        TimingModel(**kwargs)
