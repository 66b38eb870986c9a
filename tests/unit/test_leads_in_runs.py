"""A run request carries an item of either entity: a lead reaches the runner as a lead, and a run on
a lead speaks of the lead."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from dealflow import clock
from dealflow.engine.run_requests import run_request
from dealflow.model import Deal, Lead, Pipeline, Rule, RunRequest, Stage, Tenant, User, parse_item
from tests.fakes import FakeAutomation, FakeDeals, FakeDurable, FakeEngine

TENANT = Tenant(id="t1", name="Example Ltd", users=[User(id="u-head", name="Helena", email="helena@example.com")])
LEADS = Pipeline(
    id="leads",
    name="Leads",
    entity="lead",
    stages=[Stage(id="new", name="New lead"), Stage(id="qualified", name="Qualified")],
)
LEAD = Lead(tenant_id="t1", id="lead-1", pipeline_id="leads", stage_id="qualified", title="Northwind")
RULE = Rule.model_validate(
    {
        "id": "qualified-mail",
        "name": "Qualified lead: e-mail the head",
        "pipeline_id": "leads",
        "stage_id": "qualified",
        "delay": {"days": 1},
        "actions": [{"kind": "send_email", "to": {"users": ["u-head"]}, "subject": "{{ deal.title }}", "body": "-"}],
    }
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def time() -> Iterator[Clock]:
    moments = Clock()
    clock.use(moments)
    yield moments
    clock.use(None)


def request(item: Deal, previous: Deal | None = None) -> RunRequest:
    entry = {"pipeline_id": item.pipeline_id, "stage_id": item.stage_id}
    return run_request(item, RULE, "evt-1", entry, before=previous, run_id="run-1")


def test_a_run_request_names_a_lead_as_a_lead() -> None:
    before = LEAD.model_copy(update={"stage_id": "new"})

    received = RunRequest.model_validate_json(request(LEAD, before).model_dump_json())

    assert (received.deal_id, received.entity) == ("lead-1", "lead")


def test_an_item_stored_before_leads_existed_reads_as_a_deal() -> None:
    stored = Deal(tenant_id="t1", id="d-1", pipeline_id="sales", stage_id="new", title="Old").model_dump(mode="json")
    del stored["entity"]

    assert type(parse_item(stored)) is Deal


def test_after_its_delay_a_rule_on_a_lead_that_moved_on_says_the_lead_left_its_stage(time: Clock) -> None:
    found = FakeEngine(FakeAutomation(TENANT, [LEADS], [], [RULE]), FakeDeals(LEAD))
    _, durable = found.run(request(LEAD), FakeDurable(suspend_at_waits=True))
    found.deals.put(LEAD.model_copy(update={"stage_id": "new"}))
    time.now += timedelta(days=1)

    record, _ = found.run(request(LEAD), durable.replay())

    assert (record.status, record.reason) == (
        "skipped",
        "the lead left stage 'qualified' before the delay ended (now in 'new')",
    )
    assert found.outbox.sent == []


def test_after_its_delay_a_rule_on_a_deleted_lead_says_the_lead_was_deleted(time: Clock) -> None:
    found = FakeEngine(FakeAutomation(TENANT, [LEADS], [], [RULE]), FakeDeals(LEAD))
    _, durable = found.run(request(LEAD), FakeDurable(suspend_at_waits=True))
    found.deals.delete("lead-1")
    time.now += timedelta(days=1)

    record, _ = found.run(request(LEAD), durable.replay())

    assert (record.status, record.reason) == ("cancelled", "the lead was deleted")
