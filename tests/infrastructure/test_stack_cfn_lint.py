"""cfn-lint (as a library) on every environment's synthesized template: no errors, no warnings
(W3005 aside, see below)."""

from __future__ import annotations

import json

from cfnlint.api import ManualArgs, lint

from tests.infrastructure.synth_helpers import Synth

# W3005 "dependency already enforced by a GetAtt": CDK adds DependsOn from each function to its
# role's DefaultPolicy *and* the role (so the policy exists before the function is invoked). The
# role half is redundant with the function's GetAtt on the role, which is all W3005 says; the
# DependsOn is CDK's, harmless, and not ours to remove.
IGNORED = {"W3005"}


def test_template_is_cfn_lint_clean(synth: Synth) -> None:
    # One lint run without the ignore list, so the test also shows the ignore is still needed.
    matches = lint(json.dumps(synth.raw), config=ManualArgs(regions=[synth.config.region]))
    unexpected = [f"{m.rule.id} {m.path}: {m.message}" for m in matches if m.rule.id not in IGNORED]
    assert unexpected == []
    assert {m.rule.id for m in matches} == IGNORED, "drop the ignore if CDK stops adding it"
