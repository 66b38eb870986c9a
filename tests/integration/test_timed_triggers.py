"""Scheduled and date-field triggers on moto through the local stack, on the harness clock: the
minute tick (``stack.tick``), the timer queue's pages, the runs they start."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from dealflow.local import MotoStack
from dealflow.local.clock import ManualClock
from dealflow.local.demo import demo_deal, set_up
from dealflow.model import BusinessProcess, FieldDefinition, FieldKind, RunRequest
from dealflow.model.timing import TimerJob
from dealflow.store.items import to_item

T = "acme"
MONDAY_0830 = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


@pytest.fixture
def stack() -> Iterator[MotoStack]:
    local = MotoStack()
    local.clock = ManualClock(MONDAY_0830)  # fire times and due dates read the same every run
    with local:
        set_up(local)
        local.put_field(T, FieldDefinition(code="contract_end", name="Contract end", kind=FieldKind.DATE))
        yield local


def _process(**overrides: Any) -> BusinessProcess:
    body: dict[str, Any] = {
        "kind": "business_process",
        "id": "stalled-reminder",
        "name": "Every Monday: stalled deals",
        "start_on": ["schedule"],
        "pipeline_id": "sales",
        "schedule": {"expression": "cron(0 9 ? * MON *)", "timezone": "UTC", "stage_ids": ["new"]},
        "nodes": [
            {
                "kind": "action",
                "action": {"kind": "notify", "to": {"users": ["u-head"]}, "message": "Stalled: {{ deal.title }}"},
            }
        ],
    }
    return BusinessProcess.model_validate(body | overrides)


def _renewal(**on_date: Any) -> BusinessProcess:
    return _process(
        id="renewal-call",
        name="30 days before the contract ends",
        start_on=["date"],
        schedule=None,
        pipeline_id=None,
        on_date={"field": "contract_end", "days": -30, "time": "09:00", **on_date},
        nodes=[
            {
                "kind": "action",
                "action": {"kind": "notify", "to": {"users": ["u-head"]}, "message": "Renew: {{ deal.title }}"},
            }
        ],
    )


def _deals(stack: MotoStack, count: int, stage: str = "new", prefix: str = "d", **fields: Any) -> None:
    """``count`` deals of acme's sales pipeline, written in batches (as an import would)."""
    table = boto3.resource("dynamodb").Table(stack.resources.tables["DealsTable"])
    stamp = stack.clock.now().isoformat(timespec="milliseconds")
    with table.batch_writer() as batch:
        for i in range(count):
            deal = demo_deal(f"{prefix}-{i:04d}", f"Deal {i}", "100.00", "services")
            update = {"stage_id": stage, "fields": {**deal.fields, **fields}, "created_at": stamp, "updated_at": stamp}
            batch.put_item(Item=to_item(deal.model_copy(update=update)))
    stack.drain()


def _until(stack: MotoStack, at: datetime) -> None:
    stack.runs_port.settle()
    stack.clock.advance(at - stack.clock.now())


def test_a_schedule_fires_once_per_fire_time_for_every_matching_deal(stack: MotoStack) -> None:
    _deals(stack, 3)
    stack.move_deal(T, "d-0002", "proposal")  # out of the schedule's stages
    stack.drain()
    stack.put_automation(T, _process())
    assert stack.tick()["armed"] == 1
    assert [n for n in stack.notifications() if n.message.startswith("Stalled")] == []

    _until(stack, MONDAY_0830 + timedelta(minutes=30, seconds=20))
    assert stack.tick()["fired"] == 1
    stalled = sorted(n.message for n in stack.notifications() if n.message.startswith("Stalled"))
    assert stalled == ["Stalled: Deal 0", "Stalled: Deal 1"]
    [run] = [r for r in stack.runs(T, "d-0000") if r.automation_id == "stalled-reminder"]
    assert run.started_by["event"] == "schedule" and run.started_by["fire_time"] == "2026-11-23T09:00:00Z"

    # The same tick delivered again, and the fire's page redelivered by SQS: nothing runs twice.
    assert stack.tick()["fired"] == 0
    job = TimerJob(
        kind="fire",
        tenant_id=T,
        automation_id="stalled-reminder",
        spec=_spec(stack),
        fire_time=run.started_by["fire_time"],
    )
    boto3.client("sqs").send_message(QueueUrl=stack.resources.queues["TimerQueue"], MessageBody=job.model_dump_json())
    stack.drain()
    assert len([n for n in stack.notifications() if n.message.startswith("Stalled")]) == 2

    # The next Monday is the next fire time.
    _until(stack, MONDAY_0830 + timedelta(days=7, minutes=31))
    assert stack.tick()["fired"] == 1
    assert len([n for n in stack.notifications() if n.message.startswith("Stalled")]) == 4


def _spec(stack: MotoStack) -> str:
    items = boto3.resource("dynamodb").Table(stack.resources.tables["TimersTable"]).scan()["Items"]
    return next(str(i["spec"]) for i in items if i.get("kind") == "schedule")


class _NamedStarts:
    """The runner as far as starting goes: a name starts once (as DurableExecutionName does)."""

    def __init__(self) -> None:
        self.started: list[RunRequest] = []
        self.names: set[str] = set()

    def start(self, request: RunRequest) -> bool:
        if request.run_id in self.names:
            return False
        self.names.add(request.run_id)
        self.started.append(request)
        return True


def test_a_schedule_pages_through_a_thousand_matching_deals_across_turns(
    stack: MotoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    _deals(stack, 1000)
    _deals(stack, 5, stage="proposal", prefix="p")  # not matched: not started
    stack.put_automation(T, _process())
    stack.tick()
    # A thousand in-process runs would take minutes: the scheduler's starts are counted here
    # instead (the test above runs them for real).
    starts = _NamedStarts()
    monkeypatch.setattr(stack._scheduler_app.CLOCKWORK, "starter", starts)
    # Each turn of the worker sees its time run out after a few pages: the job is queued again
    # with its cursor, as it is when a Lambda invocation's time runs short.
    asked = itertools.count(1)
    monkeypatch.setattr(
        "dealflow.local.stack.LambdaContext.get_remaining_time_in_millis",
        lambda _: (5_000, 60_000, 45_000, 30_000)[next(asked) % 4],
    )
    queue = stack._scheduler_app.CLOCKWORK.queue
    requeued: list[TimerJob] = []

    def enqueue(job: TimerJob) -> None:
        requeued.append(job)
        queue.enqueue(job)

    monkeypatch.setattr(
        stack._scheduler_app.CLOCKWORK, "queue", type("Queue", (), {"enqueue": staticmethod(enqueue)})()
    )
    _until(stack, MONDAY_0830 + timedelta(minutes=31))
    stack.tick()

    assert len(starts.started) == 1000
    assert {r.deal_id for r in starts.started} == {f"d-{i:04d}" for i in range(1000)}
    assert {r.started_by.fire_time for r in starts.started} == {"2026-11-23T09:00:00Z"}
    assert len([job for job in requeued if job.after is not None]) >= 3  # turns ran short and went on
    # The fire redelivered (a tick delivered twice) starts nothing more.
    job = TimerJob(
        kind="fire", tenant_id=T, automation_id="stalled-reminder", spec=_spec(stack), fire_time="2026-11-23T09:00:00Z"
    )
    boto3.client("sqs").send_message(QueueUrl=stack.resources.queues["TimerQueue"], MessageBody=job.model_dump_json())
    stack.drain()
    assert len(starts.started) == 1000 and len(starts.names) == 1000


def test_a_date_trigger_fires_once_re_arms_when_the_date_moves_and_survives_saving(stack: MotoStack) -> None:
    _deals(stack, 1, contract_end="2027-01-31")  # due 2027-01-01 09:00
    stack.put_automation(T, _renewal())
    stack.tick()  # arms: the existing deal gets its timer through the timer queue

    stack.update_deal(T, "d-0000", fields={"contract_end": "2027-02-10"})  # due 2027-01-11 09:00
    stack.drain()
    stack.put_automation(T, _renewal().model_copy(update={"name": "Renewal call"}))  # saved again, same trigger
    stack.tick()

    _until(stack, datetime(2027, 1, 1, 9, 0, 30, tzinfo=UTC))
    stack.tick()  # the old date's timer is stale: nothing
    assert [n.message for n in stack.notifications() if n.message.startswith("Renew")] == []

    _until(stack, datetime(2027, 1, 11, 9, 0, 40, tzinfo=UTC))
    stack.tick()
    stack.tick()
    assert [n.message for n in stack.notifications() if n.message.startswith("Renew")] == ["Renew: Deal 0"]
    [run] = [r for r in stack.runs(T, "d-0000") if r.automation_id == "renewal-call"]
    assert run.status == "completed"
    assert {k: run.started_by[k] for k in ("event", "date_field", "date_value", "due_at")} == {
        "event": "date",
        "date_field": "contract_end",
        "date_value": "2027-02-10",
        "due_at": "2027-01-11T09:00:00Z",
    }


def test_a_date_set_back_to_a_value_that_already_fired_does_not_fire_again(stack: MotoStack) -> None:
    stack.put_automation(T, _renewal(days=0, time="08:00"))
    stack.tick()
    _deals(stack, 1, contract_end="2026-11-24")  # created after saving: the dispatcher arms it
    _until(stack, datetime(2026, 11, 24, 8, 1, tzinfo=UTC))
    stack.tick()
    stack.update_deal(T, "d-0000", fields={"contract_end": "2026-11-25"})
    stack.drain()
    stack.update_deal(T, "d-0000", fields={"contract_end": "2026-11-24"})  # in the past now: not armed
    stack.drain()
    _until(stack, datetime(2026, 11, 25, 8, 1, tzinfo=UTC))
    stack.tick()
    assert [n.message for n in stack.notifications() if n.message.startswith("Renew")] == ["Renew: Deal 0"]


def test_switching_a_date_trigger_off_drops_its_timers_and_on_again_arms_them(stack: MotoStack) -> None:
    _deals(stack, 2, contract_end="2027-01-31")
    stack.put_automation(T, _renewal())
    stack.tick()
    stack.switch(T, "renewal-call", enabled=False)
    stack.tick()
    stack.switch(T, "renewal-call", enabled=True)
    stack.tick()
    _until(stack, datetime(2027, 1, 1, 9, 1, tzinfo=UTC))
    stack.tick()
    assert sorted(n.message for n in stack.notifications() if n.message.startswith("Renew")) == [
        "Renew: Deal 0",
        "Renew: Deal 1",
    ]


def test_a_bad_cron_or_time_zone_is_refused_naming_the_field(stack: MotoStack) -> None:
    body = json.loads(_process().model_dump_json(by_alias=True, exclude_none=True))
    body["schedule"] |= {"expression": "cron(0 9 * * MON *)", "timezone": "Europe/Atlantis"}
    status, reply = stack.api("PUT", "/automation/stalled-reminder", body, claims=ADMIN)
    assert status == 422
    problems = {p["field"]: p["problem"] for p in reply["problems"]}
    assert problems["schedule.expression"] == "cron: one of day-of-month and day-of-week must be '?', and only one"
    assert problems["schedule.timezone"].startswith("unknown time zone 'Europe/Atlantis'")


def test_a_date_trigger_on_a_deleted_field_is_flagged_and_not_run(stack: MotoStack) -> None:
    _deals(stack, 1, contract_end="2027-01-31")
    stack.put_automation(T, _renewal())
    stack.tick()
    status, reply = stack.api("DELETE", "/fields/contract_end", claims=ADMIN)
    assert status == 200
    [broken] = [b for b in reply["broken_automation"] if b["id"] == "renewal-call"]
    assert broken["warnings"] == ["field 'contract_end' no longer exists (on_date.field)"]
    _until(stack, datetime(2027, 1, 1, 9, 1, tzinfo=UTC))
    stack.tick()
    assert [n for n in stack.notifications() if n.message.startswith("Renew")] == []


def test_test_mode_says_when_a_timed_process_would_run(stack: MotoStack) -> None:
    _deals(stack, 1, contract_end="2027-01-31")
    stack.put_automation(T, _renewal())
    run = stack.test_run(T, "renewal-call", deal_id="d-0000")
    timing = next(s for s in run.steps if s.name == "timing")
    assert timing.detail["would"] == "would run at 2027-01-01T09:00:00Z (contract_end = 2027-01-31)"

    stack.put_automation(T, _process())
    stack.move_deal(T, "d-0000", "proposal")
    stack.drain()
    run = stack.test_run(T, "stalled-reminder", deal_id="d-0000")
    assert run.status == "skipped" and run.reason == "deal 'd-0000' is not among the items the schedule runs for"
    assert stack.notifications() == [] or all(not n.message.startswith("Stalled") for n in stack.notifications())


ADMIN = {"sub": "u-admin", "custom:tenant_id": T, "custom:role": "admin"}


def test_export_import_carries_schedules_and_date_triggers_and_arms_what_it_writes(stack: MotoStack) -> None:
    stack.put_automation(T, _process())
    stack.put_automation(T, _renewal())
    status, document = stack.api("GET", "/export", claims=ADMIN)
    assert status == 200
    exported = {a["id"]: a for a in document["automation"]}
    assert exported["stalled-reminder"]["schedule"] == {
        "expression": "cron(0 9 ? * MON *)",
        "timezone": "UTC",
        "stage_ids": ["new"],
    }
    assert exported["renewal-call"]["on_date"] == {
        "field": "contract_end",
        "days": -30,
        "hours": 0,
        "time": "09:00",
        "timezone": "UTC",
    }

    # The date trigger changed in the document: importing it arms the items for the new offset.
    exported["renewal-call"]["on_date"]["days"] = -20
    status, reply = stack.api("POST", "/import", document, claims=ADMIN, query={"dry_run": "false"})
    assert status == 200, reply
    _deals(stack, 1, contract_end="2027-01-31")  # due 20 days before, 2027-01-11 09:00
    stack.tick()
    _until(stack, datetime(2027, 1, 11, 9, 0, 30, tzinfo=UTC))
    stack.tick()
    assert [n.message for n in stack.notifications() if n.message.startswith("Renew")] == ["Renew: Deal 0"]
