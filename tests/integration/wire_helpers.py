"""Helpers for the wire tests (fixtures are in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local_stack.scenario import Report, build_report, counters, place_orders, wait_for_outcomes
from local_stack.stack import LocalStack
from operator_cli.dead_letters import DeadLetter, peek
from relay.adapters.coordination import CoordinationTable
from relay.domain.coverage import coverage_is_fresh
from relay.service.poll_gate import sweep_config
from relay.settings import PollerSettings

ROOT = Path(__file__).resolve().parents[2]


def operator_cli(state_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real entry point, `python -m operator_cli --local STATE ...`."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'functions'}"}
    return subprocess.run(
        [sys.executable, "-m", "operator_cli", "--local", str(state_file), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def sim_status(stack: LocalStack, order_id: str) -> Any:
    assert stack.simulator is not None
    return stack.simulator.order(order_id)["status"]


def run_orders(
    stack: LocalStack, count: int, *, seed: int, timeout: float = 150.0, pace: float = 0.0
) -> Report:
    """Place `count` orders as a storefront (`pace` real seconds apart, or all at once), wait
    until each is accounted for, report.

    Requests, 429s, faults and the relay's metrics in the report are this run's only.
    """
    before = counters(stack)
    started = time.monotonic()
    sent = place_orders(stack, count, seed=seed, pace=pace)
    finished = wait_for_outcomes(stack, sent, timeout=timeout)
    return build_report(
        stack,
        sent,
        wall_seconds=time.monotonic() - started,
        timed_out=not finished,
        since=before,
    )


def dead_letters(stack: LocalStack) -> list[DeadLetter]:
    assert stack.resources is not None
    return peek(stack.client("sqs"), stack.resources.dlq_url)


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll `condition` until it returns something truthy; returns it, or fails at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.0f}s")
        time.sleep(interval)


def sweep_coverage_fresh(stack: LocalStack) -> bool:
    """Does the sweeper's coverage item make per-order pollers skip their polls right now?"""
    assert stack.resources is not None
    settings = PollerSettings.from_env(stack.function_env())
    coverage = CoordinationTable(stack.client("dynamodb"), stack.resources.ledger_table)
    current = coverage.read_coverage()
    return current is not None and coverage_is_fresh(current, sweep_config(settings), time.time())
