"""The alarms on the monitors' metrics watch exactly what the monitor handlers emit.

For every metric that an alarm in stacks.alarms watches and that a monitor owns, run the handler
and find that metric in its EMF output with the same namespace, name and dimensions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from relay.adapters.balance_store import BalanceStore
from relay.domain.balance import RecordKind
from relay.handlers import balance_monitor, stuck_monitor
from relay.names import Metric
from stacks.alarms import relay_watched_metrics
from stacks.config import environment_config
from tests.unit.handlers.monitor_world import TABLE, FakeContext, aws, emf_metrics, put_order

OWNED = {
    balance_monitor: {
        Metric.ESTIMATED_BALANCE,
        Metric.SPEND_24H,
        Metric.RUNWAY_HOURS,
        Metric.BALANCE_UNKNOWN,
    },
    stuck_monitor: {Metric.STUCK_ORDER_RATIO, Metric.STUCK_ORDERS, Metric.ORDERS_IN_STUCK_WINDOW},
}


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("LEDGER_TABLE", TABLE)
    monkeypatch.delenv("BALANCE_ENDPOINT", raising=False)
    for module in OWNED:
        monkeypatch.setattr(module, "_runtime", None)
    with aws() as client:
        yield client


def test_monitor_alarms_watch_emitted_metrics(ddb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    now = time.time()
    BalanceStore(ddb, TABLE).record(RecordKind.BALANCE, Decimal(100))
    put_order(ddb, "a", now - 700, outcome="delivered", outcome_at=now - 650, total_price="1")
    emitted = {}
    for module in OWNED:
        capsys.readouterr()
        module.handler({}, FakeContext())  # type: ignore[attr-defined]
        emitted.update(emf_metrics(capsys.readouterr().out))

    watched = [m for m in relay_watched_metrics(environment_config(None)) if m.name in emitted]
    owned = set().union(*OWNED.values())
    alarmed = {m.name for m in relay_watched_metrics(environment_config(None))} & owned
    assert alarmed >= {
        Metric.STUCK_ORDER_RATIO,
        Metric.ESTIMATED_BALANCE,
        Metric.SPEND_24H,
        Metric.BALANCE_UNKNOWN,
    }
    for metric in watched:
        got = emitted[metric.name]
        assert (got.namespace, got.dimensions) == (metric.namespace, dict(metric.dimensions)), (
            metric.alarm
        )
    assert alarmed <= {m.name for m in watched}
