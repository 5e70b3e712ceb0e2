"""checkov (the IaC scanner platform teams gate merges on) on every environment's template:
no failed check, and every skip is one of the acknowledgements in stacks/checkov_acks.py, on the
resources it is about, with its reason.

checkov pins an old `packaging` that current pytest refuses, so it lives in its own venv,
`.venv-checkov`, which `make test` builds beside `.venv`; it runs offline (no platform mapping,
no download, no update check).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stacks import checkov_acks
from stacks.config import ROOT
from tests.infrastructure.synth_helpers import Synth, dumps

CHECKOV = Path(os.environ.get("CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))
OFFLINE = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}


@pytest.fixture(scope="module")
def scans(
    synth_by_env: dict[str, Synth], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    assert CHECKOV.is_file(), f"{CHECKOV} is missing: `make .venv-checkov/.installed` builds it"
    results: dict[str, dict[str, Any]] = {}
    for env, synth in synth_by_env.items():
        template = tmp_path_factory.mktemp(f"checkov-{env}") / f"{env}.template.json"
        template.write_text(json.dumps(synth.raw))
        run = subprocess.run(
            [str(CHECKOV), "--file", str(template), "--framework", "cloudformation",
             "--skip-download", "--compact", "--output", "json"],
            env={**os.environ, **OFFLINE},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )  # fmt: skip
        # exit 1 = failed checks (asserted below with their names); anything else is a crash
        assert run.returncode in (0, 1), run.stderr[-4000:]
        results[env] = json.loads(run.stdout)
    return results


def _logical_id(synth: Synth, construct: Any) -> str:
    resource = construct.node.default_child or construct
    return str(synth.resolve(synth.stack.get_logical_id(resource)))


def _expected_skips(synth: Synth) -> set[tuple[str, str]]:
    relay = synth.stack.relay
    functions = [relay.poller, relay.balance_monitor, relay.stuck_monitor]
    functions += [relay.sweeper] if relay.sweeper else []
    expected = {
        (check, _logical_id(synth, fn))
        for fn in functions
        for check in ("CKV_AWS_115", "CKV_AWS_117", "CKV_AWS_173")
    }
    expected.add(("CKV_AWS_116", _logical_id(synth, relay.poller)))
    queues = [relay.orders_queue, relay.dead_letter_queue, relay.scheduled_failures]
    queues += [relay.sweep_ticks] if relay.sweep_ticks else []
    for queue in queues:
        expected.add(("CKV_AWS_27", _logical_id(synth, queue)))
    if not synth.config.encrypt_logs:
        expected |= {("CKV_AWS_158", _logical_id(synth, fn.log_group)) for fn in functions}
    return expected


def test_no_failed_check(scans: dict[str, dict[str, Any]]) -> None:
    for env, scan in scans.items():
        failed = [
            f"{c['check_id']} {c['resource']}: {c['check_name']}"
            for c in scan["results"]["failed_checks"]
        ]
        assert failed == [], f"{env}: fix it, or acknowledge it in stacks/checkov_acks.py"
        assert scan["summary"]["passed"] > 80, env
        assert scan["summary"]["parsing_errors"] == 0, env


def test_skipped_checks_are_exactly_the_acknowledged_ones(
    scans: dict[str, dict[str, Any]], synth_by_env: dict[str, Synth]
) -> None:
    for env, scan in scans.items():
        skipped = {
            (c["check_id"], c["resource"].split(".", 1)[1])
            for c in scan["results"]["skipped_checks"]
        }
        assert skipped == _expected_skips(synth_by_env[env]), env


def test_every_acknowledgement_gives_one_specific_reason_per_check(
    scans: dict[str, dict[str, Any]],
) -> None:
    reasons: dict[str, set[str]] = {}
    for scan in scans.values():
        for check in scan["results"]["skipped_checks"]:
            comment = check["check_result"]["suppress_comment"]
            assert len(comment) >= 80, f"{check['check_id']}: say why: {comment!r}"
            reasons.setdefault(check["check_id"], set()).add(comment)
    # one reason per check (CKV_AWS_115 has two: the poller's and the scheduled functions')
    assert {k: len(v) for k, v in reasons.items()} == {
        "CKV_AWS_115": 2,
        "CKV_AWS_116": 1,
        "CKV_AWS_117": 1,
        "CKV_AWS_173": 1,
        "CKV_AWS_27": 1,
        "CKV_AWS_158": 1,
    }
    assert reasons["CKV_AWS_27"] == {checkov_acks.SQS_MANAGED_ENCRYPTION}


def test_scheduled_functions_keep_failed_runs_and_undeliverable_events(synth: Synth) -> None:
    """CKV_AWS_116 fixed: the sweeper and the monitors (async, no retry) send a failed run to
    the ScheduledRunFailures queue, and so do their EventBridge rules for an event they could
    not deliver; the SQS-triggered poller has no Lambda DLQ (its queue has one)."""
    relay = synth.stack.relay
    failures = synth.resolve(relay.scheduled_failures.queue_arn)
    scheduled = [relay.balance_monitor, relay.stuck_monitor]
    scheduled += [relay.sweeper] if relay.sweeper else []
    rule_targets = [
        target
        for rule in synth.resources("AWS::Events::Rule").values()
        for target in rule["Properties"]["Targets"]
    ]
    assert len(rule_targets) == len(scheduled)
    for target in rule_targets:
        assert target["DeadLetterConfig"] == {"Arn": failures}
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    for function in scheduled:
        assert synth.props(function)["DeadLetterConfig"] == {"TargetArn": failures}
    assert "DeadLetterConfig" not in synth.props(relay.poller)
    props = synth.props(relay.scheduled_failures)
    assert props["SqsManagedSseEnabled"] is True
    assert props["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_log_groups_are_kms_encrypted_where_configured(synth: Synth) -> None:
    relay = synth.stack.relay
    log_groups = synth.resources("AWS::Logs::LogGroup")
    if not synth.config.encrypt_logs:
        assert relay.logs_key is None
        assert all("KmsKeyId" not in g["Properties"] for g in log_groups.values())
        return
    assert relay.logs_key is not None
    key_arn = synth.resolve(relay.logs_key.key_arn)
    assert {dumps(g["Properties"]["KmsKeyId"]) for g in log_groups.values()} == {dumps(key_arn)}
    key = synth.props(relay.logs_key)
    assert key["EnableKeyRotation"] is True
    (logs_statement,) = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if "Service" in s["Principal"] and "logs." in json.dumps(s["Principal"]["Service"])
    ]
    assert "kms:EncryptionContext:aws:logs:arn" in logs_statement["Condition"]["ArnLike"]


