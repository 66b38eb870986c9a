"""Compiling a tenant's automation (the dispatcher's first record of a tenant, and again after each
automation change) reads what every text reads; a text many automation share is parsed once per
container, and what it reads is still checked for each of them."""

from __future__ import annotations

from typing import Any

import pytest

from dealflow.language import templates
from tests.fakes import a_rule, compiled_tenant, some_fields

# A text no other test uses, so the container-wide cache has not seen it yet.
SHARED = "{{ deal.title }}: {{ deal.fields.budget }} (compiled once, shared by every stage's rule)"


def test_a_text_shared_by_many_rules_is_parsed_once_and_flags_each_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    parse = templates._ENV.parse

    def counting(source: Any, *args: Any, **kwargs: Any) -> Any:
        parsed.append(source)
        return parse(source, *args, **kwargs)

    monkeypatch.setattr(templates._ENV, "parse", counting)
    notify = {"kind": "notify", "to": {"users": ["u-head"]}, "message": SHARED}
    rules = [a_rule(f"r{i}", notify) for i in range(30)]
    without_budget = [f for f in some_fields() if f.code != "budget"]

    compiled = compiled_tenant(automation=rules, fields=without_budget)

    assert parsed.count(SHARED) == 1
    assert compiled.warnings == {f"r{i}": ["field 'budget' no longer exists (actions.0.message)"] for i in range(30)}
