"""One local stack per test session: moto, DynamoDB Local, the FoxReload simulator, the
storefront receiver, and the real poller handler run by the local event source mapping.

Tests share the stack; each works on its own fresh orders and leaves the simulator's faults and
rate limit as it found them. Nothing here asserts on wall-clock timing: waits have generous
timeouts and only outcomes are checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.esm_runner import EsmRunner
from local_stack.stack import RELAY_API_KEY, LocalStack, LocalStackOptions
from simulator import TimingModel

TIME_SCALE = 10.0
POLLERS = 3
# FoxReload's default timing, minus the orders that never finish and with a shorter tail: every
# order is terminal well inside the (scaled) 90 s deadline, so a dead letter is always the
# test's own doing.
TIMING = TimingModel(
    tail_share=0.05,
    tail_max=150.0,
    failed_share=0.03,
    cancelled_share=0.03,
    stuck_share=0.0,
)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    options = LocalStackOptions(
        time_scale=TIME_SCALE,
        timing=TIMING,
        seed=1234,
        log_dir=tmp_path_factory.mktemp("local-stack"),
        allow_moto_dynamodb=False,  # tests and CI use Amazon DynamoDB Local
    )
    with LocalStack(options) as local:
        yield local


@pytest.fixture(scope="session")
def pollers(stack: LocalStack) -> Iterator[EsmRunner]:
    with stack.runner(pollers=POLLERS) as runner:
        assert runner.wait_ready(timeout=120), "pollers did not start"
        yield runner


@pytest.fixture(scope="session")
def state_file(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stack.write_state(tmp_path_factory.mktemp("state") / "state.json")


@pytest.fixture
def simulator_defaults(stack: LocalStack) -> Iterator[None]:
    """Restore faults and the relay key's rate limit after a test that changes them."""
    assert stack.simulator is not None
    yield
    stack.simulator.set_faults("none")
    stack.simulator.set_rate_limit(stack.rate_limit_per_minute, key=RELAY_API_KEY)
