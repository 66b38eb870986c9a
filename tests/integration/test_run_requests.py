"""Run requests by reference: the dispatcher names the automation's saved version and the deal;
the runner loads exactly that version, and the deal as it is then."""

from __future__ import annotations

from dealflow.engine.run_requests import run_request
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import Rule

STAGE = {"pipeline_id": "delivery", "stage_id": "in_delivery"}


def _rule(message: str, version: int = 1) -> Rule:
    return Rule.model_validate(
        {
            "id": "kickoff-note",
            "name": "Tell the head",
            **STAGE,
            "version": version,
            "delay": {"days": 1},
            "actions": [{"kind": "notify", "to": {"users": ["u-head"]}, "message": message}],
        }
    )


def _waiting_run(stack: MotoStack) -> str:
    stack.put_automation(TENANT, _rule("v1: {{ deal.title }}"))
    stack.create_deal(demo_deal("d-ref", "Rollout", "100.00", "services"))
    stack.drain()
    stack.move_deal(TENANT, "d-ref", "in_delivery", pipeline_id="delivery")
    stack.drain()
    [run] = [r for r in stack.runs(TENANT, "d-ref") if r.automation_id == "kickoff-note"]
    assert run.status == "waiting"
    return run.run_id


def test_a_waiting_run_acts_on_the_version_it_was_planned_with_and_the_deal_as_it_is_now(stack: MotoStack) -> None:
    run_id = _waiting_run(stack)
    stack.put_automation(TENANT, _rule("v2: {{ deal.title }}", version=2))  # edited while the run waits
    stack.update_deal(TENANT, "d-ref", title="Rollout, phase 2")

    stack.advance(days=1)

    assert [n.message for n in stack.notifications() if n.deal_id == "d-ref"] == ["v1: Rollout, phase 2"]
    assert stack.run_log.get(TENANT, run_id).status == "completed"  # type: ignore[union-attr]


def test_a_run_whose_automation_version_is_not_stored_ends_skipped_saying_why(stack: MotoStack) -> None:
    stack.put_automation(TENANT, _rule("v1"))
    stack.create_deal(demo_deal("d-gone", "Rollout", "100.00", "services"))
    stack.drain()
    deal = stack.get_deal(TENANT, "d-gone")
    assert deal is not None
    request = run_request(deal, _rule("v1", version=7), "evt-gone", STAGE)

    assert stack.runs_port.start(request)
    stack.drain()

    run = stack.run_log.get(TENANT, request.run_id)
    assert run is not None and run.status == "skipped"
    assert run.reason == "automation 'kickoff-note' version 7 is no longer stored"
    assert stack.notifications() == []
