"""One DynamoDB UpdateItem's expressions, built in one place.

Every attribute name goes behind a `#n<i>` placeholder (so reserved words such as `interval`,
`version` or `status` and names with odd characters never need escaping by hand) and every value
behind a `:v<i>` placeholder; SET, REMOVE and ADD actions are collected and joined in DynamoDB's
grammar, and the condition refers to the same placeholders. Pure: no client, no I/O.

DynamoDB rejects a request whose ExpressionAttributeNames or Values hold an entry no expression
uses, so `name()` and `value()` are only to be called for text that goes into the condition.
"""

from __future__ import annotations

from typing import Any, Self

AttributeValue = dict[str, Any]  # a low-level value: {"S": "..."}, {"N": "1.5"}, {"L": [...]}


class UpdateExpression:
    def __init__(self) -> None:
        self._names: dict[str, str] = {}  # attribute name -> its placeholder
        self._values: dict[str, AttributeValue] = {}  # placeholder -> value
        self._set: list[str] = []
        self._remove: list[str] = []
        self._add: list[str] = []
        self._conditions: list[str] = []

    def name(self, attribute: str) -> str:
        """The placeholder of an attribute name: the same one every time it is asked for."""
        placeholder = self._names.get(attribute)
        if placeholder is None:
            placeholder = f"#n{len(self._names)}"
            self._names[attribute] = placeholder
        return placeholder

    def value(self, value: AttributeValue) -> str:
        """A fresh placeholder for a value."""
        placeholder = f":v{len(self._values)}"
        self._values[placeholder] = value
        return placeholder

    def set(self, attribute: str, value: AttributeValue) -> Self:
        self._set.append(f"{self.name(attribute)} = {self.value(value)}")
        return self

    def set_if_absent(self, attribute: str, value: AttributeValue) -> Self:
        """SET only if the item has no such attribute yet (a first sight stays the first)."""
        name = self.name(attribute)
        self._set.append(f"{name} = if_not_exists({name}, {self.value(value)})")
        return self

    def remove(self, *attributes: str) -> Self:
        self._remove += [self.name(a) for a in attributes]
        return self

    def add(self, attribute: str, value: AttributeValue) -> Self:
        """ADD: a number incremented (created at the value if absent)."""
        self._add.append(f"{self.name(attribute)} {self.value(value)}")
        return self

    def condition(self, text: str) -> Self:
        """A condition over placeholders from `name()` / `value()`; several are ANDed."""
        self._conditions.append(text)
        return self

    @property
    def update(self) -> str:
        clauses = [
            f"{keyword} {', '.join(actions)}"
            for keyword, actions in (
                ("SET", self._set),
                ("REMOVE", self._remove),
                ("ADD", self._add),
            )
            if actions
        ]
        if not clauses:
            raise ValueError("an update expression needs at least one action")
        return " ".join(clauses)

    def arguments(self) -> dict[str, Any]:
        """The UpdateItem keyword arguments this expression fills (beside table, key, returns)."""
        arguments: dict[str, Any] = {
            "UpdateExpression": self.update,
            "ExpressionAttributeNames": {p: a for a, p in self._names.items()},
        }
        if self._conditions:
            arguments["ConditionExpression"] = " AND ".join(
                f"({c})" if len(self._conditions) > 1 else c for c in self._conditions
            )
        if self._values:
            arguments["ExpressionAttributeValues"] = dict(self._values)
        return arguments
