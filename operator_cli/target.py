"""Where the commands act: a deployed stack (`--env NAME`) or the local stack (`--local FILE`).

A `Target` is all a command needs: boto3 clients, the queue URLs/ARNs, the ledger table, the
FoxReload API (base URL + the Secrets Manager id of its key) and the storefront webhook (URL + the
Secrets Manager id of its signing secret). On AWS the resources come from the
CloudFormation stack `FoxReloadRelay-<env>` (its outputs, else its physical resources); on the
local stack from the JSON state file `python -m local_stack` writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from stacks.config import environment_config

LOCAL_STATE_ENV = "RELAY_LOCAL_STATE"

# boto3 service name -> suffix of the AWS_ENDPOINT_URL_<SERVICE> key in the state file.
_ENDPOINT_KEYS = {
    "sqs": "SQS",
    "dynamodb": "DYNAMODB",
    "secretsmanager": "SECRETS_MANAGER",
    "sns": "SNS",
    "cloudwatch": "CLOUDWATCH",
}
# Output keys looked for on the stack (first match wins), then resource-type fallbacks.
_OUTPUT_KEYS = {
    "orders_queue_url": ("OrdersQueueUrl",),
    "dlq_url": ("DeadLetterQueueUrl", "DlqUrl", "OrdersDlqUrl"),
    "ledger_table": ("LedgerTableName", "LedgerTable"),
}


class TargetError(RuntimeError):
    """The target cannot be resolved (no stack, no state file, missing resource)."""


@dataclass
class Target:
    kind: str  # "aws" | "local"
    name: str  # environment name
    region: str
    orders_queue_url: str
    dlq_url: str
    ledger_table: str
    foxreload_base_url: str
    api_key_secret: str
    # The storefront's webhook URL and the Secrets Manager id of the signing secret (`redeliver`)
    webhook_url: str = ""
    webhook_secret: str = ""
    endpoints: Mapping[str, str] = field(default_factory=dict)  # local only
    extra: Mapping[str, Any] = field(default_factory=dict)  # the rest of the local state file
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_local(self) -> bool:
        return self.kind == "local"

    def client(self, service: str) -> Any:
        if service not in self._clients:
            kwargs: dict[str, Any] = {"region_name": self.region}
            if self.is_local:
                kwargs["endpoint_url"] = self.endpoints[_ENDPOINT_KEYS[service]]
                kwargs["aws_access_key_id"] = "testing"
                kwargs["aws_secret_access_key"] = "testing"  # noqa: S105 - emulator dummy
            self._clients[service] = boto3.client(service, **kwargs)
        return self._clients[service]

    def queue_arn(self, url: str) -> str:
        attrs = self.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    def api_key(self) -> str:
        value = self.client("secretsmanager").get_secret_value(SecretId=self.api_key_secret)
        return str(value["SecretString"])

    def webhook_secret_value(self) -> str:
        value = self.client("secretsmanager").get_secret_value(SecretId=self.webhook_secret)
        return str(value["SecretString"])


def local_target(state_file: str | os.PathLike[str]) -> Target:
    path = Path(state_file)
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise TargetError(
            f"no local stack state at {path}: start one with `python -m local_stack` "
            "(it prints the state file path)"
        ) from None
    res = state["resources"]
    return Target(
        kind="local",
        name=res["env_name"],
        region=res["region"],
        orders_queue_url=res["orders_queue_url"],
        dlq_url=res["dlq_url"],
        ledger_table=res["ledger_table"],
        foxreload_base_url=state["foxreload_base_url"],
        api_key_secret=res["api_key_secret"],
        webhook_url=state.get("receiver_url", ""),
        webhook_secret=res.get("webhook_secret", ""),
        endpoints=state["endpoints"],
        extra=state,
    )


def aws_target(env_name: str) -> Target:
    try:
        config = environment_config(env_name)
    except (KeyError, ValueError) as exc:  # unknown name, or a cdk.json entry it cannot read
        raise TargetError(str(exc).strip("'\"")) from None
    cfn = boto3.client("cloudformation", region_name=config.region)
    try:
        stack = cfn.describe_stacks(StackName=config.stack_name)["Stacks"][0]
    except cfn.exceptions.ClientError as exc:
        raise TargetError(
            f"stack {config.stack_name} not found in {config.region}: {exc}"
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    found = {key: _first(outputs, names) for key, names in _OUTPUT_KEYS.items()}
    if None in found.values():
        found = _from_resources(cfn, config.stack_name, found)
    return Target(
        kind="aws",
        name=config.name,
        region=config.region,
        orders_queue_url=str(found["orders_queue_url"]),
        dlq_url=str(found["dlq_url"]),
        ledger_table=str(found["ledger_table"]),
        foxreload_base_url=config.foxreload_base_url,
        api_key_secret=config.api_key_secret_name,
        webhook_url=config.webhook_url,
        webhook_secret=config.webhook_secret_name,
    )


def _first(outputs: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        for key, value in outputs.items():
            # CDK may suffix output keys with a hash; match on the prefix.
            if key == name or key.startswith(name):
                return value
    return None


def _from_resources(
    cfn: Any, stack_name: str, found: dict[str, str | None]
) -> dict[str, str | None]:
    """Fallback: the stack's physical resources (a queue whose logical id says DLQ is the DLQ)."""
    resources = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    queues = [r for r in resources if r["ResourceType"] == "AWS::SQS::Queue"]
    tables = [r for r in resources if r["ResourceType"] == "AWS::DynamoDB::Table"]

    def is_dlq(logical_id: str) -> bool:
        lowered = logical_id.lower()
        return "dlq" in lowered or "deadletter" in lowered

    out = dict(found)
    for queue in queues:
        key = "dlq_url" if is_dlq(queue["LogicalResourceId"]) else "orders_queue_url"
        out[key] = out[key] or queue["PhysicalResourceId"]  # a queue's physical id is its URL
    if tables and out["ledger_table"] is None:
        out["ledger_table"] = tables[0]["PhysicalResourceId"]
    missing = [k for k, v in out.items() if v is None]
    if missing:
        raise TargetError(f"stack {stack_name} has no resource for {', '.join(missing)}")
    return out


def resolve(env_name: str | None, local_state: str | None) -> Target:
    if env_name and local_state:
        raise TargetError("give either --env or --local, not both")
    if local_state:
        return local_target(local_state)
    if env_name:
        return aws_target(env_name)
    from_env = os.environ.get(LOCAL_STATE_ENV)
    if from_env:
        return local_target(from_env)
    raise TargetError(f"say where: --env NAME (AWS) or --local STATE_FILE (or ${LOCAL_STATE_ENV})")
