"""Synthesized-stack helpers for the infrastructure tests (fixtures are in conftest.py).

Assertions compare template values with `stack.resolve(<token>)`, the exact intrinsic the
template holds, so no test hard-codes a logical id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template

from stacks.application import build_app
from stacks.config import EnvironmentConfig, load_context
from stacks.relay_stack import RelayStack

ENVIRONMENTS = sorted(load_context()["relay:environments"])


@dataclass(frozen=True)
class Synth:
    config: EnvironmentConfig
    stack: RelayStack
    template: Template
    raw: dict[str, Any]

    def resolve(self, value: Any) -> Any:
        return self.stack.resolve(value)

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.raw["Resources"].items()
            if resource["Type"] == resource_type
        }

    def resource(self, construct: Any) -> dict[str, Any]:
        """The template resource of an L2 construct (its default child)."""
        logical_id = self.resolve(self.stack.get_logical_id(construct.node.default_child))
        resource: dict[str, Any] = self.raw["Resources"][logical_id]
        return resource

    def props(self, construct: Any) -> dict[str, Any]:
        properties: dict[str, Any] = self.resource(construct)["Properties"]
        return properties


def synthesize(env: str, outdir: Path) -> Synth:
    _app, stack = build_app(env, outdir=outdir, bundle=False, nag=False)
    template = Template.from_stack(stack)
    return Synth(stack.config, stack, template, template.to_json())


def synthesize_variant(
    env: str, outdir: Path, overrides: dict[str, Any]
) -> tuple[Synth, dict[str, Any]]:
    """`env` with some cdk.json keys changed (e.g. {"sweepEnabled": False}), synthesized with
    cdk-nag on; returns the synth and the validation report (synth raises on a finding)."""
    environments = load_context()["relay:environments"]
    environments[env] = {**environments[env], **overrides}
    app, stack = build_app(
        env,
        outdir=outdir,
        bundle=False,
        nag=True,
        extra_context={"relay:environments": environments},
    )
    app.synth()
    report: dict[str, Any] = json.loads((outdir / "validation-report.json").read_text())
    template = Template.from_stack(stack)
    return Synth(stack.config, stack, template, template.to_json()), report


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
