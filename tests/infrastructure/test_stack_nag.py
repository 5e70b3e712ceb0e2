"""cdk-nag AwsSolutions (v3, through CDK's Validations plugin API): zero unacknowledged findings,
and every acknowledgement is used, specific, and on the narrowest construct that needs it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Validations

from stacks.application import build_app
from stacks.relay_construct import NAG_PACK
from stacks.relay_stack import RelayStack
from tests.infrastructure.synth_helpers import ENVIRONMENTS

FUNCTIONS = ("Poller", "BalanceMonitor", "StuckMonitor", "Sweeper")
# The complete list of findings we accept, each with the construct it is acknowledged on.
EXPECTED_ACKNOWLEDGED = {
    *(("AwsSolutions-L1", f"{fn}/Resource", fn) for fn in FUNCTIONS),
    *(
        ("AwsSolutions-IAM5[Resource::*]", f"{fn}Role/DefaultPolicy/Resource", f"{fn}Role")
        for fn in FUNCTIONS
    ),
}


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def nagged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RelayStack, dict[str, Any]]:
    outdir: Path = tmp_path_factory.mktemp(f"nag-{request.param}")
    app, stack = build_app(request.param, outdir=outdir, bundle=False, nag=True)
    app.synth()  # raises ValidationFailed (and prints each finding) if anything is unacknowledged
    report: dict[str, Any] = json.loads((outdir / "validation-report.json").read_text())
    return stack, report


def _plugin(report: dict[str, Any]) -> dict[str, Any]:
    (plugin,) = [p for p in report["pluginReports"] if p["pluginName"] == NAG_PACK]
    return plugin


def _acknowledgements(stack: RelayStack) -> dict[tuple[str, str], str]:
    """(construct path, acknowledged id) -> reason, as recorded on the construct tree."""
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found: dict[tuple[str, str], str] = {}
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key:
                for rule_id, reason in entry.data.items():
                    found[(construct.node.path, rule_id)] = reason
    return found


def test_aws_solutions_ran_and_reports_no_unacknowledged_finding(
    nagged: tuple[RelayStack, dict[str, Any]],
) -> None:
    _stack, report = nagged
    plugin = _plugin(report)
    assert plugin["conclusion"] == "success"
    assert plugin["violations"] == []
    for other in report["pluginReports"]:
        assert other["violations"] == [], other["pluginName"]


def test_acknowledged_findings_are_exactly_the_expected_ones(
    nagged: tuple[RelayStack, dict[str, Any]],
) -> None:
    stack, report = nagged
    prefix = f"{stack.relay.node.path}/"
    suppressed = set()
    for finding in _plugin(report)["suppressedViolations"]:
        assert finding["acknowledgedId"] == f"{NAG_PACK}::{finding['ruleName']}"
        for construct in finding["violatingConstructs"]:
            suppressed.add(
                (
                    finding["ruleName"],
                    construct["constructPath"].removeprefix(prefix),
                    finding["acknowledgedAt"].removeprefix(prefix),
                )
            )
    assert suppressed == EXPECTED_ACKNOWLEDGED


def test_every_acknowledgement_is_used_and_has_a_specific_reason(
    nagged: tuple[RelayStack, dict[str, Any]],
) -> None:
    stack, report = nagged
    acknowledgements = _acknowledgements(stack)
    used = {
        (f["acknowledgedAt"], f["acknowledgedId"]) for f in _plugin(report)["suppressedViolations"]
    }
    assert set(acknowledgements) == used, "an acknowledgement that suppresses nothing"
    reasons_by_rule: dict[str, set[str]] = {}
    for (_path, rule_id), reason in acknowledgements.items():
        reasons_by_rule.setdefault(rule_id, set()).add(reason)
        assert len(reason) >= 80, f"{rule_id}: say why, specifically: {reason!r}"
    # one reason per rule, and no reason reused for a different rule (no blanket text)
    assert all(len(reasons) == 1 for reasons in reasons_by_rule.values())
    all_reasons = [next(iter(r)) for r in reasons_by_rule.values()]
    assert len(set(all_reasons)) == len(all_reasons)
    for rule_id, (reason,) in reasons_by_rule.items():
        if "IAM5" in rule_id:
            assert "X-Ray" in reason and "resource-level" in reason
        if rule_id.endswith("-L1"):
            assert "python3.12" in reason and "wheels" in reason
