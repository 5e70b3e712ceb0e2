"""The update-expression builder: every name and value behind a placeholder, each placeholder
defined once and used, the clauses in DynamoDB's grammar."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.adapters.dynamo_expressions import UpdateExpression

PLACEHOLDER = re.compile(r"[#:][nv]\d+")
# Attribute names DynamoDB would refuse unescaped (reserved words) or could not parse at all.
AWKWARD = ["interval", "version", "status", "name", "#noref", "a b", "x.y", "ä", ":v0", "#n0"]


def _used(arguments: dict[str, object]) -> set[str]:
    text = str(arguments["UpdateExpression"]) + " " + str(arguments.get("ConditionExpression", ""))
    return set(PLACEHOLDER.findall(text))


def _defined(arguments: dict[str, object]) -> set[str]:
    names = arguments["ExpressionAttributeNames"]
    values = arguments.get("ExpressionAttributeValues", {})
    assert isinstance(names, dict) and isinstance(values, dict)
    return set(names) | set(values)


def test_a_typical_write_reads_as_dynamodb_expects() -> None:
    expression = (
        UpdateExpression()
        .set("lease_owner", {"S": "w-1"})
        .set_if_absent("terminal_seen_at", {"N": "5.000"})
        .remove("lease_until")
        .add("attempts", {"N": "1"})
    )
    expression.condition(f"attribute_exists({expression.name('accepted_at')})")
    assert expression.arguments() == {
        "UpdateExpression": ("SET #n0 = :v0, #n1 = if_not_exists(#n1, :v1) REMOVE #n2 ADD #n3 :v2"),
        "ConditionExpression": "attribute_exists(#n4)",
        "ExpressionAttributeNames": {
            "#n0": "lease_owner",
            "#n1": "terminal_seen_at",
            "#n2": "lease_until",
            "#n3": "attempts",
            "#n4": "accepted_at",
        },
        "ExpressionAttributeValues": {
            ":v0": {"S": "w-1"},
            ":v1": {"N": "5.000"},
            ":v2": {"N": "1"},
        },
    }


def test_an_attribute_keeps_one_placeholder_for_actions_and_condition() -> None:
    expression = UpdateExpression().set("lease_until", {"N": "9"})
    until = expression.name("lease_until")
    expression.condition(
        f"attribute_not_exists({until}) OR {until} < {expression.value({'N': '1'})}"
    )
    arguments = expression.arguments()
    assert arguments["ExpressionAttributeNames"] == {"#n0": "lease_until"}
    assert arguments["ConditionExpression"] == "attribute_not_exists(#n0) OR #n0 < :v1"


def test_several_conditions_are_each_bracketed_then_anded() -> None:
    expression = UpdateExpression().set("a", {"N": "1"})
    expression.condition(f"attribute_exists({expression.name('b')}) OR attribute_exists(#n0)")
    expression.condition(f"{expression.name('c')} = {expression.value({'N': '2'})}")
    assert expression.arguments()["ConditionExpression"] == (
        "(attribute_exists(#n1) OR attribute_exists(#n0)) AND (#n2 = :v1)"
    )


def test_a_remove_only_update_sends_no_values() -> None:
    arguments = UpdateExpression().remove("lease_owner", "lease_until").arguments()
    assert arguments["UpdateExpression"] == "REMOVE #n0, #n1"
    assert "ExpressionAttributeValues" not in arguments  # DynamoDB rejects an empty map
    assert "ConditionExpression" not in arguments


def test_an_update_without_actions_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one action"):
        UpdateExpression().arguments()


_VALUES = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=8)),
    st.builds(lambda n: {"N": str(n)}, st.integers()),
    st.just({"BOOL": True}),
)
_ATTRIBUTES = st.one_of(st.sampled_from(AWKWARD), st.text(min_size=1, max_size=12))
_ACTIONS = st.lists(
    st.tuples(st.sampled_from(["set", "set_if_absent", "remove", "add"]), _ATTRIBUTES, _VALUES),
    min_size=1,
    max_size=12,
)


@given(_ACTIONS, st.lists(_ATTRIBUTES, max_size=3))
def test_every_placeholder_is_defined_once_and_used_and_no_name_is_written_raw(
    actions: list[tuple[str, str, dict[str, object]]], condition_attributes: list[str]
) -> None:
    expression = UpdateExpression()
    for verb, attribute, value in actions:
        if verb == "remove":
            expression.remove(attribute)
        else:
            getattr(expression, verb)(attribute, value)
    for attribute in condition_attributes:
        expression.condition(f"attribute_exists({expression.name(attribute)})")
    arguments = expression.arguments()
    names = arguments["ExpressionAttributeNames"]

    assert _used(arguments) == _defined(arguments)  # none missing, none unused
    # one placeholder per attribute, and every attribute used is escaped
    assert sorted(names.values()) == sorted({a for _, a, _ in actions} | set(condition_attributes))
    values = arguments.get("ExpressionAttributeValues", {})
    assert len(values) == sum(verb != "remove" for verb, _, _ in actions)
    # the expression holds only placeholders, keywords and punctuation: no raw attribute text
    bare = PLACEHOLDER.sub("", arguments["UpdateExpression"])
    assert set(re.findall(r"[A-Za-z_]+", bare)) <= {"SET", "REMOVE", "ADD", "if_not_exists"}
    # each clause keyword at most once, in DynamoDB's order
    keywords = re.findall(r"\b(SET|REMOVE|ADD)\b", arguments["UpdateExpression"])
    assert keywords == sorted(set(keywords), key=["SET", "REMOVE", "ADD"].index)
