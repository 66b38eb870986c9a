"""What a run carries is bounded by the run, not by the tenant, the deal or the texts: the run
request (the runner's input) stays a few KB, and every step's checkpoint, measured as the durable
SDK serialises it, stays under a bound a large tenant and a long Polish e-mail do not move."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from dealflow import clock
from dealflow.aws.checkpoints import checkpoint_bytes, input_bytes
from dealflow.engine.changes import diff
from dealflow.engine.dispatch import plan_runs
from dealflow.limits import MAX_CHECKPOINT_PAYLOAD_BYTES as MAX_CHECKPOINT_BYTES
from dealflow.model import (
    BusinessProcess,
    Deal,
    FieldDefinition,
    FieldKind,
    Pipeline,
    Rule,
    RunRecord,
    RunRequest,
    RunStep,
    Stage,
    Tenant,
    User,
)
from dealflow.model.catalog import Automation
from dealflow.store.runs import MAX_ITEM_BYTES, fitted, item_bytes
from tests.fakes import FakeAutomation, FakeDeals, FakeDurable, FakeEngine, FakeRunLog

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# Far below AWS's 256 KB: what one step may carry, whatever the tenant and the texts.
STEP_BOUND = 8 * 1024
REQUEST_BOUND = 4 * 1024


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    clock.use(lambda: NOW)
    yield
    clock.use(None)


def tenant(users: int) -> Tenant:
    people = [User(id=f"u-{n}", name=f"Użytkownik {n}", email=f"u{n}@example.com") for n in range(users)]
    return Tenant(id="t1", name="Example", users=people, constants={"crm_url": "https://crm.example.com"})


def pipelines(count: int) -> list[Pipeline]:
    stages = ["new", "proposal", "negotiation", "won", "lost"] + [f"s{n}" for n in range(5)]
    return [
        Pipeline(id="sales" if n == 0 else f"p{n}", name=f"Pipeline {n}", stages=[Stage(id=s, name=s) for s in stages])
        for n in range(count)
    ]


def fields(count: int) -> list[FieldDefinition]:
    options = [f"option {n}" for n in range(30)]
    found = [
        FieldDefinition(code=f"list_{n}", name=f"List {n}", kind=FieldKind.LIST, options=options) for n in range(count)
    ]
    return [*found, FieldDefinition(code="notes", name="Notes", kind=FieldKind.TEXT)]


def big_deal(stage: str, version: int) -> Deal:
    custom = {f"list_{n}": "option 3" for n in range(80)}
    custom["notes"] = ("Notatki ze spotkania: zażółć gęślą jaźń. " * 4000)[:120_000]  # 120 KB
    return Deal(
        tenant_id="t1",
        id="d-1",
        pipeline_id="sales",
        stage_id=stage,
        title="Wdrożenie",
        amount=Decimal("12500.00"),
        currency="PLN",
        responsible_id="u-1",
        fields=custom,
        version=version,
    )


def polish_email(chars: int) -> dict[str, object]:
    body = ("Szanowni Państwo, dziękujemy za zaufanie — zażółć gęślą jaźń. " * (chars // 60 + 1))[:chars]
    return {"kind": "send_email", "to": {"users": ["u-2"], "responsible": True}, "subject": "Umowa", "body": body}


def rule(email_chars: int) -> Rule:
    return Rule.model_validate(
        {
            "id": "won-mail",
            "name": "Won: e-mail",
            "pipeline_id": "sales",
            "stage_id": "won",
            "delay": {"days": 1},
            "condition": {"field": "stage_id", "op": "changed_from", "value": "negotiation"},
            "actions": [
                polish_email(email_chars),
                {"kind": "notify", "to": {"users": ["u-3"]}, "message": "{{ deal.title }}: {{ deal.notes[:60000] }}"},
                {"kind": "update_fields", "values": {"list_1": {"value": "option 7"}}},
            ],
        }
    )


def process(email_chars: int) -> BusinessProcess:
    return BusinessProcess.model_validate(
        {
            "id": "outcome",
            "name": "Outcome",
            "start_on": ["change"],
            "nodes": [
                {"kind": "set_variable", "variable": "note", "expression": "deal.notes[:500]"},
                {
                    "kind": "condition",
                    "branches": [
                        {
                            "name": "won",
                            "condition": {"field": "stage_id", "op": "changed_to", "value": "won"},
                            "nodes": [{"kind": "action", "action": polish_email(email_chars)}],
                        }
                    ],
                },
                {"kind": "delay", "delay": {"days": 1}},
                {"kind": "action", "action": {"kind": "notify", "to": {"users": ["u-3"]}, "message": "{{ var.note }}"}},
            ],
        }
    )


def run(
    automation: Automation, users: int, pipeline_count: int, field_count: int
) -> tuple[RunRequest, FakeDurable, FakeEngine]:
    found = FakeEngine(
        FakeAutomation(tenant(users), pipelines(pipeline_count), fields(field_count), [automation]),
        FakeDeals(big_deal("won", 2)),
    )
    [request] = plan_runs(diff(big_deal("negotiation", 1), big_deal("won", 2)), found.automation.load("t1"), "e").runs
    record, durable = found.run(request, FakeDurable(suspend_at_waits=True))
    assert record.status == "waiting"
    clock.use(lambda: NOW + timedelta(days=2))
    record, durable = found.run(request, durable.replay())
    assert record.status == "completed", record.reason
    return request, durable, found


def test_a_run_request_names_a_big_deal_and_a_big_automation_in_a_few_kb() -> None:
    found = FakeAutomation(tenant(200), pipelines(30), fields(150), [rule(30_000)])
    change = diff(big_deal("negotiation", 1), big_deal("won", 2))

    [request] = plan_runs(change, found.load("t1"), "evt-1").runs

    assert input_bytes(request.model_dump_json()) < REQUEST_BOUND
    assert request.previous == {"stage_id": "negotiation"}  # what changed_from compares with, nothing more


@pytest.mark.parametrize("automation", [rule, process], ids=["rule", "process"])
def test_every_step_stays_under_a_bound_a_large_tenant_and_a_long_polish_text_do_not_move(
    automation: object,
) -> None:
    sizes = {}
    for scale, (users, pipeline_count, field_count, chars) in {
        "small": (5, 1, 2, 200),
        "large": (200, 30, 150, 90_000),
    }.items():
        request, durable, found = run(automation(chars), users, pipeline_count, field_count)  # type: ignore[operator]
        measured = {name: checkpoint_bytes(result) for kind, name, result in durable.checkpoints if kind == "step"}
        sizes[scale] = measured
        assert input_bytes(request.model_dump_json()) < REQUEST_BOUND
        assert max(measured.values()) < STEP_BOUND, measured
        sent = [m for m in found.outbox.sent if m["kind"] == "email"]
        # One message per recipient (u-2 and the responsible u-1), each with the whole text: only the log is short.
        assert len(sent) == 2 and all(len(m["body"]) >= chars for m in sent)
    assert STEP_BOUND < MAX_CHECKPOINT_BYTES
    assert sizes["small"].keys() == sizes["large"].keys()


class RefusingRunLog(FakeRunLog):
    """Refuses the run log's write right after the first action's effect (as DynamoDB refuses an
    item over 400 KB, or throttles)."""

    def write(self, record: RunRecord) -> None:
        if record.steps and record.steps[-1].name == "action-1-send_email":
            raise RuntimeError("ValidationException: Item size has exceeded the maximum allowed size")
        super().write(record)


def test_a_run_log_write_that_fails_after_an_e_mail_went_out_does_not_fail_the_run() -> None:
    automation = Rule.model_validate({**rule(500).model_dump(), "delay": None, "condition": None})
    found = FakeEngine(
        FakeAutomation(tenant(5), pipelines(1), fields(2), [automation]),
        FakeDeals(big_deal("won", 2)),
        runs=RefusingRunLog(),
    )
    [request] = plan_runs(diff(big_deal("negotiation", 1), big_deal("won", 2)), found.automation.load("t1"), "e").runs

    record, _ = found.run(request)

    assert record.status == "completed"
    assert [m["kind"] for m in found.outbox.sent] == ["email", "email", "notification"]  # each recipient once
    assert [s.name for s in record.steps][-3:] == ["action-1-send_email", "action-2-notify", "action-3-update_fields"]


def test_a_run_of_thousands_of_steps_still_fits_one_run_log_item_keeping_its_ends() -> None:
    steps = [
        RunStep(name=f"n0.i{n}.n0", kind="action", outcome="done", detail={"message": "ż" * 300, "n": n})
        for n in range(3000)
    ]
    record = RunRecord(
        tenant_id="t1",
        run_id="run-1",
        automation_id="p1",
        automation_name="Loop",
        automation_kind="business_process",
        deal_id="d-1",
        event_id="e",
        started_by={},
        status="completed",
        steps=steps,
        started_at=NOW.isoformat(),
    )

    kept = fitted(record)

    assert item_bytes(kept.model_dump(mode="json")) < MAX_ITEM_BYTES
    assert kept.steps[0].name == "n0.i0.n0" and kept.steps[-1] == steps[-1]  # how it ended, whole
    assert any(s.outcome.endswith("steps not kept in the run log") for s in kept.steps)


def test_a_changed_condition_on_a_long_text_still_fires_after_its_wait_from_a_small_request() -> None:
    automation = Rule.model_validate(
        {
            **rule(200).model_dump(),
            "condition": {"field": "notes", "op": "changed"},
        }
    )
    found = FakeEngine(FakeAutomation(tenant(5), pipelines(1), fields(2), [automation]), FakeDeals(big_deal("won", 2)))
    before = big_deal("negotiation", 1)
    before = before.model_copy(update={"fields": {**before.fields, "notes": "short notes"}})

    [request] = plan_runs(diff(before, big_deal("won", 2)), found.automation.load("t1"), "e").runs
    record, durable = found.run(request, FakeDurable(suspend_at_waits=True))
    clock.use(lambda: NOW + timedelta(days=2))
    record, _ = found.run(request, durable.replay())

    assert input_bytes(request.model_dump_json()) < REQUEST_BOUND
    assert request.previous == {"notes": "short notes"} and set(request.changed["notes"]) == {"sha256"}
    assert record.status == "completed", record.reason
