from hypothesis import given
from hypothesis import strategies as st

from relay.domain.rate_budget import BucketState, back_off, budget_within_limit


@given(
    tokens=st.floats(0, 10),
    retry_after=st.floats(0, 3600, allow_nan=False),
    later=st.floats(0, 7200, allow_nan=False),
)
def test_after_a_back_off_no_token_exists_before_retry_after(tokens, retry_after, later):
    budget = budget_within_limit()
    state = back_off(budget, BucketState(tokens, 1000.0), retry_after, 1000.0)
    grant = budget.take(state, 1000.0 + later)
    first_token = max(retry_after, 1.0 / budget.rate)  # an emptied bucket needs one refill
    if later < first_token - 1e-6:
        assert not grant.granted
        assert abs((later + grant.wait) - first_token) < 1e-6
    if later >= first_token + 1e-6:
        assert grant.granted


def test_back_off_never_shortens_an_earlier_back_off():
    budget = budget_within_limit()
    long = back_off(budget, budget.full(0.0), 120.0, 0.0)
    short = back_off(budget, long, 5.0, 1.0)
    assert short.updated_at == long.updated_at
