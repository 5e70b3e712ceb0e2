"""Create the relay's AWS resources in the emulators, from the same settings as the CDK stack.

Everything that the stack derives from `stacks.config` (queue visibility, redrive
`maxReceiveCount`, DLQ retention, ledger key schema / index / TTL) is derived here the same way;
tests/integration/test_provisioning_parity.py compares the two against the synthesized template.
boto3 clients are made from the process environment (see `emulators.patched_environ`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import boto3

from relay.names import POWERTOOLS_ENVIRONMENT, SERVICE_NAME, Ledger
from relay.settings import ENV_NAMES, PollerSettings, max_receive_count, queue_retention_seconds
from stacks.config import EnvironmentConfig

DLQ_RETENTION_SECONDS = 14 * 24 * 3600


@dataclass(frozen=True)
class Resources:
    """What was provisioned: enough for the poller's environment, the CLI and the state file."""

    env_name: str
    region: str
    orders_queue_url: str
    orders_queue_arn: str
    dlq_url: str
    dlq_arn: str
    ledger_table: str
    api_key_secret: str
    webhook_secret: str
    page_topic_arn: str
    ticket_topic_arn: str
    sweep_ticks_url: str = ""  # the sweeper's tick queue (relay.domain.sweep_tick)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Resources:
        return cls(**data)


def resource_prefix(config: EnvironmentConfig) -> str:
    """Queue names are physical in the stack too: `<service>-<env>-orders[-dlq]`."""
    return f"{SERVICE_NAME}-{config.name}"


def redrive_max_receive_count(config: EnvironmentConfig) -> int:
    """The same number the stack writes: from the poller settings the stack builds."""
    return max_receive_count(placeholder_settings(config))


def placeholder_settings(config: EnvironmentConfig) -> PollerSettings:
    return config.poller_settings(ledger_table="-", orders_queue_url="-", dlq_url="-")


def orders_queue_attributes(config: EnvironmentConfig, dlq_arn: str) -> dict[str, str]:
    return {
        "VisibilityTimeout": str(config.queue_visibility_seconds),
        "MessageRetentionPeriod": str(queue_retention_seconds(placeholder_settings(config))),
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": redrive_max_receive_count(config)}
        ),
    }


def dlq_attributes() -> dict[str, str]:
    return {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}


def ledger_table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments: key schema and the indexes (accepted hour, spend, storefront ref)
    of names.Ledger."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": Ledger.PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": Ledger.ACCEPTED_INDEX_PARTITION, "AttributeType": "S"},
            {"AttributeName": Ledger.ACCEPTED_INDEX_SORT, "AttributeType": "N"},
            {"AttributeName": Ledger.SPEND_INDEX_PARTITION, "AttributeType": "S"},
            {"AttributeName": Ledger.SPEND_INDEX_SORT, "AttributeType": "N"},
            {"AttributeName": Ledger.STOREFRONT_REF_INDEX_PARTITION, "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": Ledger.PARTITION_KEY, "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": Ledger.ACCEPTED_INDEX,
                "KeySchema": [
                    {"AttributeName": Ledger.ACCEPTED_INDEX_PARTITION, "KeyType": "HASH"},
                    {"AttributeName": Ledger.ACCEPTED_INDEX_SORT, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": Ledger.SPEND_INDEX,
                "KeySchema": [
                    {"AttributeName": Ledger.SPEND_INDEX_PARTITION, "KeyType": "HASH"},
                    {"AttributeName": Ledger.SPEND_INDEX_SORT, "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": list(Ledger.SPEND_INDEX_ATTRIBUTES),
                },
            },
            {
                "IndexName": Ledger.STOREFRONT_REF_INDEX,
                "KeySchema": [
                    {"AttributeName": Ledger.STOREFRONT_REF_INDEX_PARTITION, "KeyType": "HASH"},
                    {"AttributeName": Ledger.STOREFRONT_REF_INDEX_SORT, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
    }


def provision(
    config: EnvironmentConfig, *, api_key: str, webhook_secret: str, region: str | None = None
) -> Resources:
    region = region or config.region
    prefix = resource_prefix(config)
    sqs = boto3.client("sqs", region_name=region)
    ddb = boto3.client("dynamodb", region_name=region)
    secrets = boto3.client("secretsmanager", region_name=region)
    sns = boto3.client("sns", region_name=region)

    dlq_url = sqs.create_queue(QueueName=f"{prefix}-orders-dlq", Attributes=dlq_attributes())[
        "QueueUrl"
    ]
    dlq_arn = _queue_arn(sqs, dlq_url)
    orders_url = sqs.create_queue(
        QueueName=f"{prefix}-orders", Attributes=orders_queue_attributes(config, dlq_arn)
    )["QueueUrl"]
    # Only the orders queue may redrive into the DLQ (moto accepts and drops this attribute).
    sqs.set_queue_attributes(
        QueueUrl=dlq_url,
        Attributes={
            "RedriveAllowPolicy": json.dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [_queue_arn(sqs, orders_url)]}
            )
        },
    )

    ticks_url = sqs.create_queue(
        QueueName=f"{prefix}-sweep-ticks", Attributes=sweep_tick_attributes()
    )["QueueUrl"]

    table = f"{prefix}-ledger"
    ddb.create_table(**ledger_table_definition(table))
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
    ddb.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": Ledger.TTL_ATTRIBUTE},
    )

    secrets.create_secret(Name=config.api_key_secret_name, SecretString=api_key)
    secrets.create_secret(Name=config.webhook_secret_name, SecretString=webhook_secret)
    page = sns.create_topic(Name=f"{prefix}-page")["TopicArn"]
    ticket = sns.create_topic(Name=f"{prefix}-ticket")["TopicArn"]
    return Resources(
        env_name=config.name,
        region=region,
        orders_queue_url=orders_url,
        orders_queue_arn=_queue_arn(sqs, orders_url),
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        ledger_table=table,
        api_key_secret=config.api_key_secret_name,
        webhook_secret=config.webhook_secret_name,
        page_topic_arn=page,
        ticket_topic_arn=ticket,
        sweep_ticks_url=ticks_url,
    )


# The stack's (stacks/relay_construct.py SweepTicks): ticks are worthless after an hour, and a
# failed tick comes back after six sweeper timeouts. The stack's redrive of ticks that keep
# failing (to ScheduledRunFailures, which the local stack has no use for) is left out.
SWEEP_TICK_RETENTION_SECONDS = 3600
SWEEP_TICK_VISIBILITY_SECONDS = 6 * 75


def sweep_tick_attributes() -> dict[str, str]:
    return {
        "MessageRetentionPeriod": str(SWEEP_TICK_RETENTION_SECONDS),
        "VisibilityTimeout": str(SWEEP_TICK_VISIBILITY_SECONDS),
    }


def poller_env(
    config: EnvironmentConfig,
    resources: Resources,
    *,
    foxreload_base_url: str,
    sink_webhook_url: str,
    overrides: dict[str, str] | None = None,
) -> dict[str, str]:
    """The poller's environment variables, built exactly as the stack builds them."""
    settings = config.poller_settings(
        ledger_table=resources.ledger_table,
        orders_queue_url=resources.orders_queue_url,
        dlq_url=resources.dlq_url,
    )
    env = {**settings.to_env(), **POWERTOOLS_ENVIRONMENT}  # as the stack writes it
    env[ENV_NAMES["foxreload_base_url"]] = foxreload_base_url
    env[ENV_NAMES["sink_webhook_url"]] = sink_webhook_url
    # the loopback simulator and receiver speak plain http: the local stack's explicit opt-out
    env[ENV_NAMES["allow_insecure_http"]] = "true"
    env.update(overrides or {})
    PollerSettings.from_env(env)  # fail here, not in every poller process
    return env


def _queue_arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attrs["QueueArn"])
