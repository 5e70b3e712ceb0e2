"""Build the CDK app for one environment: shared by `app.py`, `stacks.synth_all` and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.config import environment_config, load_context
from stacks.relay_stack import RelayStack

ENV_CONTEXT_KEY = "env"
RELAY_CONTEXT_KEYS = ("relay:environments", "relay:defaultEnvironment")
# CDK's own switch: the listed stacks bundle assets; an empty list means none does (tests).
SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}


def build_app(
    env_name: str | None = None,
    *,
    outdir: str | Path | None = None,
    bundle: bool = True,
    nag: bool = True,
    extra_context: dict[str, Any] | None = None,
) -> tuple[App, RelayStack]:
    """One App with the one stack `FoxReloadRelay-<env>`.

    The environment is `env_name`, else `-c env=NAME` from the CDK CLI, else cdk.json's default.
    cdk.json's context is passed in explicitly so that `python app.py` sees exactly what
    `cdk synth` sees; CLI context (`-c ...`) still overrides it.
    """
    context: dict[str, Any] = dict(load_context())
    if env_name is not None:
        context[ENV_CONTEXT_KEY] = env_name
    if not bundle:
        context.update(SKIP_BUNDLING)
    context.update(extra_context or {})
    app = App(outdir=str(outdir) if outdir is not None else None, context=context)
    chosen = app.node.try_get_context(ENV_CONTEXT_KEY)
    relay_context = {
        key: value
        for key in RELAY_CONTEXT_KEYS
        if (value := app.node.try_get_context(key)) is not None
    }
    config = environment_config(chosen, relay_context)
    stack = RelayStack(app, config)
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack
