"""A tenant's definitions are read a page of ``DEFINITIONS_PAGE`` at a time (the dispatcher's peak
memory is one page parsed, not the whole tenant): however many pages, every definition is read and
compiled, and the rule on the last page waits for its stage as the one on the first does."""

from __future__ import annotations

from typing import Any

import boto3

from dealflow import runtime
from dealflow.engine.compiled import TenantCompiler
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT
from dealflow.model import Rule
from dealflow.ports import MAX_WRITES
from dealflow.store.automation import DEFINITIONS_PAGE, AutomationStore


def _rule(n: int, enabled: bool = False) -> Rule:
    return Rule.model_validate(
        {
            "id": f"page-rule-{n:04d}",
            "name": f"Paged rule {n}",
            "pipeline_id": "sales",
            "stage_id": "lost",
            "enabled": enabled,
            "actions": [{"kind": "send_email", "to": {"responsible": True}, "subject": "Lost", "body": f"rule {n}"}],
        }
    )


def test_every_page_of_a_tenants_definitions_is_read_and_compiled(stack: MotoStack) -> None:
    before = len(stack.automation.load(TENANT).by_id)
    count = 2 * DEFINITIONS_PAGE + 3
    rules = [_rule(n, enabled=n in (0, count - 1)) for n in range(count)]
    for at in range(0, len(rules), MAX_WRITES):
        stack.automation.write_definitions(TENANT, [(r, None) for r in rules[at : at + MAX_WRITES]])
    pages: list[dict[str, Any]] = []
    table = boto3.resource("dynamodb").Table(runtime.settings().automation_table)
    table.meta.client.meta.events.register(
        "before-parameter-build.dynamodb.Query", lambda params, **_: pages.append(params)
    )

    compiled = AutomationStore(table, TenantCompiler()).load(TENANT)

    assert len(compiled.by_id) == before + len(rules)
    assert {r.id for r in rules} <= set(compiled.by_id)
    waiting = {c.automation.id for c in compiled.index.on_stage("sales", "lost")}
    assert {rules[0].id, rules[-1].id} <= waiting and rules[1].id not in waiting
    definition_pages = [p for p in pages if p.get("Limit") == DEFINITIONS_PAGE]
    assert len(definition_pages) >= 3 and all("ExclusiveStartKey" in p for p in definition_pages[1:])
