"""The low-balance metric on the local stack: the simulator's balance drains and crosses 2 x spend.

A storefront buys orders from the FoxReload simulator (its balance really goes down), the real
poller delivers them and records each total in the ledger, the operator records the balance with
the real CLI, and the real balance monitor handler publishes EstimatedBalance and Spend24h. The
low-balance alarm's rule (EstimatedBalance < 2 x Spend24h) must hold on the published metrics
before the simulator's balance runs out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local_stack.esm_runner import EsmRunner
from local_stack.scenario import wait_for_outcomes
from local_stack.stack import STOREFRONT_API_KEY, LocalStack
from relay.handlers import balance_monitor
from relay.names import AlarmThreshold, Metric
from tests.integration.wire_helpers import operator_cli
from tests.unit.handlers.monitor_world import FakeContext, emf_metrics

pytestmark = pytest.mark.wire

PRODUCT = "steam-10"  # 10.50 in the simulator's catalog
BATCH = 2
MAX_BATCHES = 10


@pytest.fixture
def monitor_env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The balance monitor's environment as the stack writes it, pointed at the local stack."""
    assert stack.resources is not None and stack.simulator is not None
    settings = stack.config.monitor_settings(ledger_table=stack.resources.ledger_table)
    env = {**settings.to_env(), **stack.aws_env(), "POWERTOOLS_TRACE_DISABLED": "true"}
    env["FOXRELOAD_BASE_URL"] = stack.simulator.base_url
    env["FOXRELOAD_API_KEY_SECRET"] = stack.resources.api_key_secret
    env["BALANCE_ENDPOINT"] = ""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(balance_monitor, "_runtime", None)
    yield
    stack.simulator.v1_balance_enabled = False


def check(capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], dict[str, float]]:
    """One scheduled run of the real handler: its summary and the metrics it published."""
    balance_monitor._runtime = None  # a fresh cold start picks up the current environment
    capsys.readouterr()
    summary = balance_monitor.handler({"source": "aws.events"}, FakeContext())
    metrics = {name: m.value for name, m in emf_metrics(capsys.readouterr().out).items()}
    return summary, metrics


def buy_orders(stack: LocalStack, count: int) -> dict[str, float]:
    """Act as the storefront: create + pay `count` orders (drawing the balance), enqueue them."""
    assert stack.simulator is not None
    sent: dict[str, float] = {}
    with httpx.Client(
        base_url=stack.simulator.base_url, headers={"X-API-Key": STOREFRONT_API_KEY}, timeout=10
    ) as http:
        for _ in range(count):
            created = http.post(
                "/api/orders/", json={"items": [{"itemId": PRODUCT, "quantity": 1}]}
            )
            assert created.status_code == 201, created.text
            order_id = str(created.json()["id"])
            paid = http.post(f"/api/orders/{order_id}/pay")
            assert paid.status_code < 300, f"pay: {paid.status_code} {paid.text[:200]}"
            stack.send_order(order_id)
            sent[order_id] = time.time()
    return sent


def low(metrics: dict[str, float]) -> bool:
    multiple = AlarmThreshold.LOW_BALANCE_SPEND_MULTIPLE
    return metrics[Metric.ESTIMATED_BALANCE] < multiple * metrics[Metric.SPEND_24H]


def test_draining_balance_crosses_the_low_balance_threshold_before_it_runs_out(
    stack: LocalStack,
    pollers: EsmRunner,
    state_file: Path,
    monitor_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert stack.simulator is not None
    # Whatever earlier tests spent today counts in Spend24h: start from that.
    _, before = check(capsys)
    prior_spend = before[Metric.SPEND_24H]
    # Fund the account so that it is healthy now and low after about five orders of 10.50.
    start_balance = round(2 * prior_spend + 12 * 10.50, 2)
    stack.simulator.set_balance(start_balance)
    recorded = operator_cli(state_file, "balance", "record", f"{start_balance:.2f}", "--note", "it")
    assert recorded.returncode == 0, recorded.stderr
    summary, metrics = check(capsys)
    assert summary["source"] == "estimate"
    assert metrics[Metric.ESTIMATED_BALANCE] == pytest.approx(start_balance)
    assert not low(metrics), metrics

    history = [metrics]
    for _ in range(MAX_BATCHES):
        sent = buy_orders(stack, BATCH)
        assert wait_for_outcomes(stack, sent, timeout=120), "orders did not finish"
        summary, metrics = check(capsys)
        history.append(metrics)
        if low(metrics):
            break
    else:
        pytest.fail(f"the low-balance rule never held: {history}")

    # It fired while FoxReload still had money: a warning ahead of BalanceNotEnough.
    assert stack.simulator.balance() > 0
    assert summary["low"] is True
    assert metrics[Metric.RUNWAY_HOURS] < 48  # below 2 days of spend, by the same rule
    # The estimate only ever goes down between records, and never above what FoxReload holds
    # (failed orders are counted as spent; the simulator refunds them: the estimate errs low).
    balances = [m[Metric.ESTIMATED_BALANCE] for m in history]
    assert balances == sorted(balances, reverse=True)
    assert metrics[Metric.ESTIMATED_BALANCE] <= stack.simulator.balance() + 0.01
    assert metrics[Metric.SPEND_24H] > prior_spend

    shown = operator_cli(state_file, "balance", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["low"] is True


def test_balance_endpoint_reports_the_simulators_balance(
    stack: LocalStack,
    monitor_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert stack.simulator is not None
    stack.simulator.v1_balance_enabled = True
    stack.simulator.set_balance(1234.56)
    monkeypatch.setenv("BALANCE_ENDPOINT", "/v1/balance")
    summary, metrics = check(capsys)
    assert summary["source"] == "endpoint"
    assert metrics[Metric.ESTIMATED_BALANCE] == pytest.approx(1234.56)
