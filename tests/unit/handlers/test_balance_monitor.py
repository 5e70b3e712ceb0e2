"""The balance monitor handler over a moto ledger, operator records and an optional endpoint."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import httpx
import pytest
import respx

from relay.adapters.balance_store import BalanceStore
from relay.domain.balance import RecordKind
from relay.handlers import balance_monitor
from relay.names import METRICS_NAMESPACE, SERVICE_DIMENSION, SERVICE_NAME, Metric
from tests.unit.handlers.monitor_world import (
    REGION,
    TABLE,
    FakeContext,
    aws,
    emf_metrics,
    put_order,
)

FOX = "https://fox.test"
API_KEY = "fox-secret-key-0123456789"


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("LEDGER_TABLE", TABLE)
    monkeypatch.setenv("FOXRELOAD_BASE_URL", FOX)
    monkeypatch.setenv("FOXRELOAD_API_KEY_SECRET", "fox-key")
    monkeypatch.delenv("BALANCE_ENDPOINT", raising=False)
    monkeypatch.setattr(balance_monitor, "_runtime", None)
    with aws() as client:
        boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="fox-key", SecretString=API_KEY
        )
        yield client


def store(ddb: Any, at: float) -> BalanceStore:
    return BalanceStore(ddb, TABLE, clock=lambda: at)


def relay_log(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the relay itself logged (message and extra fields), at every level."""
    return "\n".join(
        f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name == SERVICE_NAME
    )


def run(capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    capsys.readouterr()
    result = balance_monitor.handler({"source": "aws.events"}, FakeContext())
    return result, emf_metrics(capsys.readouterr().out)


def test_estimate_is_recorded_balance_minus_spend_since(
    ddb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    now = time.time()
    put_order(
        ddb,
        "before",
        now - 7200,
        outcome="delivered",
        terminal_seen_at=now - 7100,
        outcome_at=now - 7099,
        total_price="40.00",
    )
    store(ddb, now - 3600).record(RecordKind.BALANCE, Decimal("100.00"), note="dashboard")
    # accepted before the record but charged after it: counts (the query reaches back)
    put_order(
        ddb,
        "straddles",
        now - 3700,
        outcome="delivered",
        terminal_seen_at=now - 3500,
        outcome_at=now - 3499,
        total_price="10.00",
    )
    put_order(
        ddb,
        "after",
        now - 600,
        outcome="delivered",
        terminal_seen_at=now - 590,
        outcome_at=now - 589,
        total_price="20.00",
    )
    put_order(
        ddb,
        "failed",
        now - 500,
        outcome="failed",
        terminal_seen_at=now - 490,
        outcome_at=now - 489,
        total_price="5.00",
    )
    put_order(
        ddb,
        "cancelled",
        now - 400,
        outcome="cancelled",
        outcome_at=now - 300,
        total_price="99.00",
        cancel_reason="payment_failure",
    )
    put_order(ddb, "pending", now - 60)

    result, metrics = run(capsys)

    assert result["source"] == "estimate"
    assert metrics[Metric.ESTIMATED_BALANCE].value == pytest.approx(65.0)  # 100 - 10 - 20 - 5
    assert metrics[Metric.SPEND_24H].value == pytest.approx(75.0)  # 40 + 10 + 20 + 5
    assert metrics[Metric.RUNWAY_HOURS].value == pytest.approx(65 * 24 / 75, abs=1e-3)
    assert result["low"] is True  # 65 < 150
    assert metrics[Metric.BALANCE_UNKNOWN].value == 0
    for name in (Metric.ESTIMATED_BALANCE, Metric.SPEND_24H, Metric.RUNWAY_HOURS):
        assert metrics[name].namespace == METRICS_NAMESPACE
        assert metrics[name].dimensions == {SERVICE_DIMENSION: SERVICE_NAME}


def test_the_low_verdict_uses_the_configured_multiple(
    ddb: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOW_BALANCE_SPEND_MULTIPLE", "0.5")
    now = time.time()
    store(ddb, now - 3600).record(RecordKind.BALANCE, Decimal("100"))
    put_order(
        ddb, "a", now - 600, outcome="delivered", terminal_seen_at=now - 500, total_price="60"
    )
    result, _ = run(capsys)
    assert result["balance"] == 40
    assert result["low"] is False  # 40 >= 0.5 x 60 (with the default 2: low)


def test_topups_add_to_the_basis(ddb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    now = time.time()
    store(ddb, now - 7200).record(RecordKind.BALANCE, Decimal("10"))
    put_order(ddb, "a", now - 5000, outcome="delivered", outcome_at=now - 4900, total_price="4")
    store(ddb, now - 3600).record(RecordKind.TOPUP, Decimal("500"))
    _, metrics = run(capsys)
    assert metrics[Metric.ESTIMATED_BALANCE].value == pytest.approx(506.0)
    assert metrics[Metric.SPEND_24H].value == pytest.approx(4.0)


def test_balance_above_twice_spend_is_not_low(ddb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    now = time.time()
    store(ddb, now - 60).record(RecordKind.BALANCE, Decimal("1000"))
    put_order(ddb, "a", now - 5000, outcome="delivered", outcome_at=now - 4900, total_price="300")
    result, metrics = run(capsys)
    assert result["low"] is False
    assert metrics[Metric.ESTIMATED_BALANCE].value == 1000  # charged before the record
    assert metrics[Metric.SPEND_24H].value == 300


def test_nothing_recorded_publishes_spend_only(
    ddb: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    now = time.time()
    put_order(ddb, "a", now - 500, outcome="delivered", outcome_at=now - 400, total_price="3.5")
    result, metrics = run(capsys)
    assert result["source"] is None
    assert metrics[Metric.SPEND_24H].value == 3.5
    assert Metric.ESTIMATED_BALANCE not in metrics
    assert Metric.RUNWAY_HOURS not in metrics
    assert metrics[Metric.BALANCE_UNKNOWN].value == 1  # BalanceUnknown: LowBalance is blind
    assert any("balance record AMOUNT" in r.getMessage() for r in caplog.records)


def test_balance_endpoint_is_read_with_the_api_key(
    ddb: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("BALANCE_ENDPOINT", "/v1/balance")
    now = time.time()
    store(ddb, now - 60).record(RecordKind.BALANCE, Decimal("1000"))  # ignored: endpoint wins
    put_order(ddb, "a", now - 500, outcome="delivered", outcome_at=now - 400, total_price="20")
    caplog.set_level(logging.DEBUG, logger=SERVICE_NAME)
    with respx.mock(assert_all_called=True) as router:
        route = router.get(f"{FOX}/v1/balance").mock(
            return_value=httpx.Response(200, json={"balance": "33.10", "currency": "USD"})
        )
        result, metrics = run(capsys)
    assert route.calls.last.request.headers["X-API-Key"] == API_KEY
    assert result["source"] == "endpoint"
    assert metrics[Metric.ESTIMATED_BALANCE].value == pytest.approx(33.10)
    assert metrics[Metric.SPEND_24H].value == 20
    assert result["low"] is True
    assert API_KEY not in relay_log(caplog)
    assert API_KEY not in str(result)


@pytest.mark.parametrize(
    "response",
    [httpx.Response(500), httpx.Response(401), httpx.Response(200, text="<html>")],
)
def test_endpoint_failure_falls_back_to_the_estimate(
    ddb: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    response: httpx.Response,
) -> None:
    monkeypatch.setenv("BALANCE_ENDPOINT", f"{FOX}/v1/balance")
    now = time.time()
    store(ddb, now - 60).record(RecordKind.BALANCE, Decimal("80"))
    with respx.mock() as router:
        router.get(f"{FOX}/v1/balance").mock(return_value=response)
        result, metrics = run(capsys)
    assert result["source"] == "estimate"
    assert metrics[Metric.ESTIMATED_BALANCE].value == 80
    assert any("using the estimate" in r.getMessage() for r in caplog.records)
    assert API_KEY not in relay_log(caplog)


def test_endpoint_timeout_falls_back_to_the_estimate(
    ddb: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BALANCE_ENDPOINT", "v1/balance")
    store(ddb, time.time()).record(RecordKind.BALANCE, Decimal("12"))
    with respx.mock() as router:
        router.get(f"{FOX}/v1/balance").mock(side_effect=httpx.ReadTimeout("slow"))
        result, _ = run(capsys)
    assert result["source"] == "estimate"
    assert result["balance"] == 12


def test_rotated_key_is_re_read_once_after_a_401(
    ddb: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BALANCE_ENDPOINT", "/v1/balance")
    run_with = {"key": API_KEY}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["X-API-Key"] != run_with["key"]:
            return httpx.Response(401)
        return httpx.Response(200, json={"balance": 77})

    with respx.mock() as router:
        route = router.get(f"{FOX}/v1/balance").mock(side_effect=answer)
        assert run(capsys)[0]["balance"] == 77  # warm: the key is now cached
        boto3.client("secretsmanager", region_name=REGION).put_secret_value(
            SecretId="fox-key", SecretString="rotated-key"
        )
        run_with["key"] = "rotated-key"
        capsys.readouterr()
        result = balance_monitor.handler({}, FakeContext())  # same runtime: a warm container
        assert result["source"] == "endpoint"
        assert result["balance"] == 77
        assert [c.request.headers["X-API-Key"] for c in route.calls][-2:] == [
            API_KEY,
            "rotated-key",
        ]


def test_a_basis_older_than_the_ledgers_history_is_flagged(
    ddb: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A short history keeps the run small: the monitor reads the spend index hour by hour.
    monkeypatch.setenv("LEDGER_TTL_DAYS", "2")
    now = time.time()
    store(ddb, now - 3 * 86_400).record(RecordKind.BALANCE, Decimal("500"))
    put_order(ddb, "a", now - 500, outcome="delivered", outcome_at=now - 400, total_price="20")
    result, metrics = run(capsys)
    assert result["source"] == "estimate"
    assert metrics[Metric.ESTIMATED_BALANCE].value == 480  # spend within the history only
    assert any("older than the ledger's history" in r.getMessage() for r in caplog.records)


def test_a_recent_basis_is_not_flagged(
    ddb: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    store(ddb, time.time() - 3600).record(RecordKind.BALANCE, Decimal("500"))
    run(capsys)
    assert not any("older than the ledger's history" in r.getMessage() for r in caplog.records)


def test_the_ledgers_history_is_its_ttl_setting(
    ddb: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """LEDGER_TTL_DAYS, not a fixed 90 days: a 2.5-day-old basis is within a 3-day history
    (and the test above flags a 3-day-old one beyond a 2-day history, which a fixed 90 days
    never would)."""
    now = time.time()
    store(ddb, now - 2.5 * 86_400).record(RecordKind.BALANCE, Decimal("500"))
    monkeypatch.setenv("LEDGER_TTL_DAYS", "3")
    run(capsys)
    assert not any("older than the ledger's history" in r.getMessage() for r in caplog.records)


def test_the_low_balance_warning_names_the_configured_multiple(
    ddb: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("LOW_BALANCE_SPEND_MULTIPLE", "3")
    now = time.time()
    store(ddb, now - 3600).record(RecordKind.BALANCE, Decimal("50"))
    put_order(ddb, "a", now - 500, outcome="delivered", outcome_at=now - 400, total_price="20")
    result, _ = run(capsys)
    assert result["low"] is True  # 30 < 3 x 20
    assert any("balance below 3 x the last 24 h spend" in r.getMessage() for r in caplog.records)
