"""One stack per cdk.json environment, `FoxReloadRelay-<env>`, holding the `FoxReloadRelay`
construct; and `FoxReloadRelayStage`, the same stack as a CDK Pipelines stage.
"""

from __future__ import annotations

import os
from typing import Any

from aws_cdk import Environment, Stack, Stage
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.relay_construct import FoxReloadRelay, tag_relay

# A construct with the id "Default" adds nothing to its children's logical ids, so the relay's
# resources keep the logical ids they had when the stack defined them itself: moving them into
# the construct replaces nothing on deploy (the ledger table above all).
RELAY_CONSTRUCT_ID = "Default"


def stack_environment(config: EnvironmentConfig) -> Environment:
    """cdk.json's account and region, else the CDK CLI's (CDK_DEFAULT_*), else agnostic."""
    return Environment(
        account=config.account or os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=config.region or os.environ.get("CDK_DEFAULT_REGION"),
    )


class RelayStack(Stack):
    """`FoxReloadRelay-<env>`: the relay construct and nothing else."""

    def __init__(self, scope: Construct, config: EnvironmentConfig, **kwargs: Any) -> None:
        kwargs.setdefault("env", stack_environment(config))
        # The name stays `FoxReloadRelay-<env>` inside a Stage too (the operator CLI looks it up).
        kwargs.setdefault("stack_name", config.stack_name)
        super().__init__(scope, config.stack_name, **kwargs)
        self.config = config
        tag_relay(self, config)  # the stack's own tags as well as its resources'
        self.relay = FoxReloadRelay(self, RELAY_CONSTRUCT_ID, config.props)


class FoxReloadRelayStage(Stage):
    """The relay stack as a deployable unit for CDK Pipelines:

        pipeline.add_stage(FoxReloadRelayStage(self, "Prod", config=environment_config("prod")))
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any
    ) -> None:
        kwargs.setdefault("env", stack_environment(config))
        super().__init__(scope, construct_id, **kwargs)
        self.stack = RelayStack(self, config)
