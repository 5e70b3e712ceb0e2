"""The relay as a reusable construct: docs/deploy.md's example of embedding it in
another CDK app, run as written; the CDK Pipelines stage; stateful logical ids unchanged by the
move into the construct."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App
from aws_cdk.assertions import Template

from stacks.application import SKIP_BUNDLING
from stacks.config import ROOT, environment_config, load_context
from stacks.relay_stack import FoxReloadRelayStage
from tests.infrastructure.synth_helpers import Synth

DEPLOY_MD = ROOT / "docs" / "deploy.md"
EMBED_HEADING = "## Embedding the relay in your own CDK app"


def _embedding_example() -> str:
    section = DEPLOY_MD.read_text().split(EMBED_HEADING, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, f"no python example under {EMBED_HEADING!r}"
    return match.group(1)


def _of_type(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def test_the_docs_example_embeds_the_relay_in_another_app(tmp_path: Path) -> None:
    """Run as a user would: their project with this repository at relay/, no PYTHONPATH,
    no AWS credentials (bundling skipped through the CLI's context variable)."""
    project = tmp_path / "storefront-infra"
    project.mkdir()
    (project / "relay").symlink_to(ROOT)
    (project / "app.py").write_text(_embedding_example())
    out = tmp_path / "cdk.out"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "CDK_")) and k != "PYTHONPATH"
    }
    env["CDK_OUTDIR"] = str(out)
    env["CDK_CONTEXT_JSON"] = json.dumps(SKIP_BUNDLING)
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads((out / "validation-report.json").read_text())
    assert all(p["violations"] == [] for p in report["pluginReports"])
    template = json.loads((out / "Storefront.template.json").read_text())

    queues = {q["Properties"].get("QueueName") for q in _of_type(template, "AWS::SQS::Queue")}
    # the scheduled runs' failure queue has a generated name
    assert queues == {"foxreload-relay-shop-orders", "foxreload-relay-shop-orders-dlq", None}
    assert len(_of_type(template, "AWS::Lambda::Function")) == 4  # poller, sweeper, monitors
    alarms = [a["Properties"]["AlarmName"] for a in _of_type(template, "AWS::CloudWatch::Alarm")]
    assert alarms and all(name.startswith("FoxReloadRelay-shop-") for name in alarms)
    (table,) = _of_type(template, "AWS::DynamoDB::Table")
    assert table["DeletionPolicy"] == "Retain"  # retain_data=True
    (subscription,) = _of_type(template, "AWS::SNS::Subscription")
    assert subscription["Properties"]["Endpoint"] == "oncall@example.com"
    # the host app's own role got SendMessage on the relay's orders queue
    resources = template["Resources"]
    (queue_id,) = [
        k for k, v in resources.items()
        if v.get("Properties", {}).get("QueueName") == "foxreload-relay-shop-orders"
    ]  # fmt: skip
    (role_id,) = [
        k for k, v in resources.items()
        if v["Type"] == "AWS::IAM::Role" and k.startswith("StorefrontTask")
    ]  # fmt: skip
    (policy,) = [
        p for p in _of_type(template, "AWS::IAM::Policy")
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]  # fmt: skip
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert "sqs:SendMessage" in statement["Action"]
    assert statement["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_the_pipeline_stage_holds_the_environment_stack_under_its_own_name() -> None:
    app = App(context={**load_context(), **SKIP_BUNDLING})
    stage = FoxReloadRelayStage(app, "Prod", config=environment_config("prod"))
    assembly = stage.synth()
    artifact = assembly.get_stack_by_name("FoxReloadRelay-prod")
    assert stage.stack.stack_name == "FoxReloadRelay-prod"
    (table,) = _of_type(artifact.template, "AWS::DynamoDB::Table")
    assert table["DeletionPolicy"] == "Retain"
    assert Template.from_stack(stage.stack).to_json() == artifact.template


# The logical ids the stateful resources had before the relay became a construct: a change would
# make CloudFormation replace them on the next deploy (a new, empty ledger; retained orphans).
STATEFUL_LOGICAL_IDS = {
    "Ledger": "LedgerB7379752",
    "LedgerKey": "LedgerKey4AEFADD0",
    "OrdersQueue": "OrdersQueue3DFA1D51",
    "DeadLetterQueue": "DeadLetterQueue9F481546",
    "AlertsKey": "AlertsKey9D05DB5E",
}


def test_the_construct_keeps_the_stateful_resources_logical_ids(synth: Synth) -> None:
    relay = synth.stack.relay
    for construct_id, logical_id in STATEFUL_LOGICAL_IDS.items():
        child = relay.node.find_child(construct_id)
        resource = child.node.default_child or child
        assert synth.resolve(synth.stack.get_logical_id(resource)) == logical_id
