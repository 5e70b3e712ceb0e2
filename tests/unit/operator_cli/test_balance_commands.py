"""`python -m operator_cli balance ...` against an in-process moto ledger."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from operator_cli.cli import main
from operator_cli.target import Target
from relay.adapters.balance_store import BalanceStore
from tests.unit.handlers.monitor_world import REGION, TABLE, aws, put_order


@pytest.fixture
def target() -> Iterator[Target]:
    with aws():
        yield Target(
            kind="aws",
            name="test",
            region=REGION,
            orders_queue_url="",
            dlq_url="",
            ledger_table=TABLE,
            foxreload_base_url="https://fox.test",
            api_key_secret="fox-key",
        )


def charged_after_the_basis(target: Target, order_id: str, price: str) -> None:
    """A delivered order charged just after the recorded basis (and before `show` runs)."""
    basis = BalanceStore(target.client("dynamodb"), TABLE).basis()
    assert basis is not None
    at = basis.since + 0.002
    put_order(
        target.client("dynamodb"),
        order_id,
        at - 30,
        outcome="delivered",
        terminal_seen_at=at,
        outcome_at=at + 0.001,
        total_price=price,
    )
    time.sleep(0.01)


def cli(target: Target, *argv: str) -> int:
    return main(list(argv), target=target)


def test_record_then_show(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(target, "balance", "record", "250.00", "--note", "dashboard, alice") == 0
    out = capsys.readouterr().out
    assert "recorded balance 250.00" in out
    charged_after_the_basis(target, "o1", "100.00")
    assert cli(target, "balance", "topup", "50") == 0
    assert cli(target, "balance", "show", "--json") == 0
    shown = json.loads(capsys.readouterr().out.split("\n", 2)[-1])
    assert Decimal(shown["estimated_balance"]) == Decimal("200.00")  # 250 - 100 + 50
    assert Decimal(shown["spend_24h"]) == 100
    assert shown["low"] is False  # 200 is not below 2 x 100
    assert [r["kind"] for r in shown["records"]] == ["balance", "topup"]
    assert shown["records"][0]["note"] == "dashboard, alice"


def test_show_text_flags_low_balance(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    cli(target, "balance", "record", "150")
    charged_after_the_basis(target, "o1", "100")
    capsys.readouterr()
    assert cli(target, "balance", "show") == 0
    out = capsys.readouterr().out
    assert "estimated balance:  50" in out
    assert "LOW" in out


def test_show_without_records_says_what_to_do(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(target, "balance", "show") == 0
    assert "balance record AMOUNT" in capsys.readouterr().out


@pytest.mark.parametrize("amount", ["abc", "-5", "NaN", "inf", "1" * 30])
def test_bad_amounts_are_refused(target: Target, amount: str) -> None:
    assert main(["balance", "record", amount]) == 2  # a usage error, before any target


def test_zero_topup_is_refused(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(target, "balance", "topup", "0") == 2
    assert "positive" in capsys.readouterr().out
