"""checkov findings the relay accepts, each acknowledged on its resource with the reason.

checkov reads `Metadata: {"checkov": {"skip": [{"id", "comment"}]}}` on a CloudFormation
resource; `skip_check` writes it through the L1 resource's `add_metadata`. Like the cdk-nag
acknowledgements (relay_construct.py), each finding is acknowledged only on the resources it is
about, with one specific reason per check; tests/infrastructure/test_checkov.py runs checkov on
every environment's template and fails on any finding that is neither fixed nor listed here.
"""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct

CHECKOV_METADATA_KEY = "checkov"

# CKV_AWS_115: function-level (reserved) concurrency.
CONCURRENCY_POLLER = (
    "The poller's concurrency is already capped by its SQS event source mapping (ScalingConfig "
    "MaximumConcurrency = cdk.json maxConcurrency); reserved concurrency on top would throttle "
    "the mapping's own invocations and take capacity from the account's unreserved pool for good."
)
CONCURRENCY_SCHEDULED = (
    "Invoked only by its EventBridge schedule, one run per period (the sweeper's overlapping run "
    "is serialized by its ledger lease, see docs/deploy.md); reserved concurrency would throttle "
    "an overlapping run into hours of async retries and take capacity from the account for good."
)
# CKV_AWS_116: a dead-letter queue for asynchronous invocations.
POLLER_DLQ = (
    "The poller is invoked synchronously by its SQS event source mapping, where a Lambda "
    "dead-letter queue never applies; undeliverable orders go to the orders queue's own DLQ "
    "(RedrivePolicy, and the relay's deadline), which the DeadLetters alarm watches."
)
# CKV_AWS_117: inside a VPC.
NO_VPC = (
    "The functions reach only public HTTPS endpoints (FoxReload, the storefront webhook) and AWS "
    "APIs, nothing private; a VPC would need NAT gateways (a fixed cost per AZ and one more "
    "failure point) and would isolate nothing."
)
# CKV_AWS_173: environment variables encrypted with a customer-managed key.
ENVIRONMENT_HAS_NO_SECRETS = (
    "The environment holds settings, URLs and Secrets Manager names only, never a secret (the "
    "API key and webhook secret are read from Secrets Manager at run time); Lambda encrypts it "
    "at rest with its AWS-managed key."
)
# CKV_AWS_27: SQS encrypted with a customer-managed KMS key.
SQS_MANAGED_ENCRYPTION = (
    "Encrypted at rest with SQS-managed keys (SSE-SQS) and TLS-only by queue policy; a "
    "customer-managed key would make every producer (the storefront, EventBridge, Lambda) need "
    "kms:GenerateDataKey on it without narrowing who can read the messages."
)
# CKV_AWS_158: log groups encrypted with a KMS key (on unless cdk.json encryptLogs is false).
LOGS_UNENCRYPTED = (
    "encryptLogs is false for this environment (cdk.json): the relay never logs codes, keys or "
    "secrets, and the logs are kept briefly; environments with encryptLogs (prod) encrypt every "
    "function log group with the relay's LogsKey."
)


def skip_check(construct: IConstruct, check_id: str, comment: str) -> None:
    """Acknowledge checkov `check_id` on `construct`'s CloudFormation resource."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    assert isinstance(resource, CfnResource), f"{construct.node.path} has no CfnResource"
    current = resource.get_metadata(CHECKOV_METADATA_KEY) or {}
    skips = [s for s in current.get("skip", []) if s["id"] != check_id]
    skips.append({"id": check_id, "comment": comment})
    resource.add_metadata(CHECKOV_METADATA_KEY, {"skip": skips})
