"""A rule's run is lean on the strict local runner (the durable SDK, with AWS's limits): three actions
take five durable operations in all, the execution's own included, and what its checkpoints
persist stays under 4 KB however many pipelines the tenant has. Counts and bytes, as the durable
service counts them (``Strictness.footprint``), never time."""

from __future__ import annotations

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import Pipeline, Rule, Stage

THREE_ACTIONS = [
    {
        "kind": "send_email",
        "to": {"responsible": True},
        "subject": "{{ deal.title }} is in negotiation",
        "body": "{{ deal.title }}: {{ deal.amount }} {{ deal.currency }}, stage {{ deal.stage }}.",
    },
    {"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ deal.title }} entered negotiation"},
    {"kind": "create_task", "title": "Agree the terms of {{ deal.title }}", "due_in_days": 3},
]
OPERATIONS = 5
CHECKPOINT_BYTES = 4 * 1024


def _other_pipelines(count: int) -> list[Pipeline]:
    stages = [Stage(id=f"s{n}", name=f"Stage {n} of the renewal process") for n in range(10)]
    return [Pipeline(id=f"p{n}", name=f"Pipeline {n}", stages=stages) for n in range(count)]


@pytest.mark.parametrize("pipelines", [0, 29], ids=["demo-pipelines", "30-pipelines-more"])
def test_a_three_action_rule_runs_in_five_operations_and_under_4_kb_of_checkpoints(
    stack: MotoStack, pipelines: int
) -> None:
    for pipeline in _other_pipelines(pipelines):
        stack.put_pipeline(TENANT, pipeline)
    stack.put_rule(
        TENANT,
        Rule.model_validate(
            {
                "id": "three",
                "name": "Three actions",
                "pipeline_id": "sales",
                "stage_id": "negotiation",
                "actions": THREE_ACTIONS,
            }
        ),
    )
    stack.create_deal(demo_deal("d-1", "Data migration", "7300.00", "services"))
    stack.drain()
    stack.move_deal(TENANT, "d-1", "negotiation")
    stack.drain()

    [run] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "three"]
    assert run.status == "completed", run.reason
    assert [s.kind for s in run.steps] == ["check", "action", "action", "action"]
    arn = stack.runs_port.execution_of(run.run_id)
    assert arn is not None
    operations, persisted = stack.runs_port.strict.footprint(arn)
    assert operations == OPERATIONS  # the execution, start (with the first check), three actions
    assert 0 < persisted <= CHECKPOINT_BYTES
