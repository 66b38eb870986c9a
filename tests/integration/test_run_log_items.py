"""What a run carries stays within AWS's limits however large the deal, the tenant or the texts:
the run log's item (DynamoDB: 400 KB), each step's checkpoint and the run's input (256 KB)."""

from __future__ import annotations

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import FieldDefinition, FieldKind, Rule, RunRequest
from dealflow.store.runs import item_bytes

DYNAMODB_ITEM_LIMIT = 400 * 1024


def test_five_large_e_mails_are_each_sent_once_and_the_run_log_item_stays_under_dynamodbs_limit(
    stack: MotoStack,
) -> None:
    emails = [
        {
            "kind": "send_email",
            "to": {"users": ["u-head"]},
            "subject": f"Part {n}",
            "body": f"Part {n} of the notes:\n{{{{ deal.notes }}}}",
        }
        for n in range(5)
    ]
    rule = Rule.model_validate(
        {
            "id": "big-mail",
            "name": "Five long e-mails",
            "pipeline_id": "delivery",
            "stage_id": "in_delivery",
            "actions": emails,
        }
    )
    stack.put_automation(TENANT, rule)
    notes = ("Zażółć gęślą jaźń, notatki ze spotkania. " * 2500)[:90_000]  # a 90 kB text field
    stack.put_field(TENANT, FieldDefinition(code="notes", name="Notes", kind=FieldKind.TEXT))
    deal = demo_deal("d-big", "Big", "100.00", "services")
    stack.create_deal(deal.model_copy(update={"fields": {**deal.fields, "notes": notes}}))
    stack.drain()
    stack.move_deal(TENANT, "d-big", "in_delivery", pipeline_id="delivery")
    stack.drain()

    sent = [e for e in stack.emails() if e.subject.startswith("Part ")]
    assert sorted(e.subject for e in sent) == [f"Part {n}" for n in range(5)]
    assert all(len(e.body) > 80_000 for e in sent)
    [run] = [r for r in stack.runs(TENANT, "d-big") if r.automation_id == "big-mail"]
    assert run.status == "completed"
    body = run.steps[1].detail
    assert len(body["body"]) < 1_000 and body["body_full"]["chars"] == len(sent[0].body)
    table = stack.run_log._table
    stored = table.get_item(Key={"tenant_id": TENANT, "sk": f"RUN#{run.run_id}"})["Item"]
    assert item_bytes(stored) < DYNAMODB_ITEM_LIMIT


def test_a_failed_run_keeps_what_started_it_only_while_the_item_stays_under_the_limit(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("d-req", "Request", "100.00", "services"))
    stack.move_deal(TENANT, "d-req", "lost")
    stack.drain()
    [run] = [r for r in stack.runs(TENANT, "d-req") if r.automation_id == "lost-email"]
    request = stack.runs_port.describe(stack.runs_port.execution_of(run.run_id) or "")
    assert request is not None and request.request is not None
    kept = RunRequest.model_validate(request.request)
    huge = kept.model_copy(update={"run_id": "run-huge", "parameters": {"notes": "x" * 100_000}})

    for started in (kept, huge):
        failed = run.model_copy(update={"run_id": started.run_id, "status": "failed", "request": started})
        stack.run_log.write(failed)

    assert stack.run_log.get(TENANT, run.run_id).request == kept  # type: ignore[union-attr]
    stored = stack.run_log.get(TENANT, "run-huge")
    assert stored is not None and stored.status == "failed" and stored.request is None  # not kept: not retried
