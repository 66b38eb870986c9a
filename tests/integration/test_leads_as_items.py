"""Leads are items like deals: every kind of automation — a stage rule, a tunnel, a trigger, a
business process, test mode, a field–step workflow — runs on a lead (in DealsTable with
``"entity": "lead"``) as it does on a deal, through the whole local flow, with the effect a user sees."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT
from dealflow.model import (
    BusinessProcess,
    Contact,
    Deal,
    FieldDefinition,
    Lead,
    Pipeline,
    Recipients,
    Rule,
    SendEmail,
    Stage,
    Trigger,
    Tunnel,
)
from dealflow.model.pipeline import Step
from dealflow.model.workflow import FieldStepWorkflow

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
# A second lead pipeline, so leads have somewhere to tunnel to and a stage with a checklist step.
NURTURE = Pipeline(
    id="nurture",
    name="Lead nurturing",
    entity="lead",
    stages=[Stage(id="warm", name="Warm", steps=[Step(id="call_back", name="Call back")]), Stage(id="hot", name="Hot")],
)


@dataclass(frozen=True)
class Place:
    """Where an item of one entity starts, which stage automation watches, where a tunnel leads,
    and which checklist step a field–step workflow marks."""

    pipeline: str
    start: str
    enter: str
    names: tuple[str, str]  # of the stages ``start`` and ``enter``, as e-mails show them
    tunnel_to: tuple[str, str]
    step_at: tuple[str, str]  # (pipeline, stage) holding ``step``
    step: str


PLACES = {
    "deal": Place(
        "sales", "new", "negotiation", ("New", "Negotiation"), ("delivery", "kickoff"), ("sales", "new"), "qualify"
    ),
    "lead": Place(
        "leads", "new", "qualified", ("New lead", "Qualified"), ("nurture", "warm"), ("nurture", "warm"), "call_back"
    ),
}
ENTITIES = pytest.mark.parametrize("entity", sorted(PLACES))
EMAIL = SendEmail(to=Recipients(users=["u-head"]), subject="{{ deal.title }}: {{ deal.stage }}", body="{{ deal.id }}")


def item(entity: str, item_id: str, title: str, at: tuple[str, str] | None = None) -> Deal:
    pipeline, stage = at or (PLACES[entity].pipeline, PLACES[entity].start)
    kind = Lead if entity == "lead" else Deal
    return kind(
        tenant_id=TENANT,
        id=item_id,
        pipeline_id=pipeline,
        stage_id=stage,
        title=title,
        amount=Decimal("900.00"),
        currency="EUR",
        responsible_id="u-anna",
        contact=Contact(name="Nora North", email="nora@northwind.example"),
    )


@pytest.fixture
def leads(stack: MotoStack) -> MotoStack:
    stack.put_pipeline(TENANT, NURTURE)
    return stack


def created(stack: MotoStack, entity: str, item_id: str, at: tuple[str, str] | None = None) -> Deal:
    made = stack.create_deal(item(entity, item_id, f"Northwind {entity}", at))
    stack.drain()
    return made


def only_run(stack: MotoStack, item_id: str, automation_id: str) -> str:
    [run] = [r for r in stack.runs(TENANT, item_id) if r.automation_id == automation_id]
    return run.status


@ENTITIES
def test_a_stage_rule_runs_when_the_item_enters_its_stage(leads: MotoStack, entity: str) -> None:
    place = PLACES[entity]
    leads.put_rule(
        TENANT, Rule(id="entered", name="Entered", pipeline_id=place.pipeline, stage_id=place.enter, actions=[EMAIL])
    )
    created(leads, entity, "i-1")

    leads.move_deal(TENANT, "i-1", place.enter)
    leads.drain()

    [email] = leads.emails()
    assert (email.subject, email.body.strip()) == (f"Northwind {entity}: {place.names[1]}", "i-1")
    assert only_run(leads, "i-1", "entered") == "completed"


@ENTITIES
def test_a_tunnel_copies_the_item_into_another_pipeline_of_its_entity(leads: MotoStack, entity: str) -> None:
    place = PLACES[entity]
    target_pipeline, target_stage = place.tunnel_to
    leads.put_automation(
        TENANT,
        Tunnel(
            id="carry-on",
            name="Carry on",
            pipeline_id=place.pipeline,
            stage_id=place.enter,
            target_pipeline_id=target_pipeline,
            target_stage_id=target_stage,
            mode="copy",
        ),
    )
    created(leads, entity, "i-1")

    leads.move_deal(TENANT, "i-1", place.enter)
    leads.drain()

    original = leads.get_deal(TENANT, "i-1")
    assert original is not None and len(original.copy_ids) == 1
    copy = leads.get_deal(TENANT, original.copy_ids[0])
    assert copy is not None and copy.entity == entity
    assert (copy.pipeline_id, copy.stage_id, copy.copied_from_id) == (target_pipeline, target_stage, "i-1")
    assert only_run(leads, "i-1", "carry-on") == "completed"


@ENTITIES
def test_a_trigger_moves_the_item_to_its_stage(leads: MotoStack, entity: str) -> None:
    place = PLACES[entity]
    leads.put_automation(
        TENANT,
        Trigger(
            id="renamed",
            name="Renamed",
            pipeline_id=place.pipeline,
            stage_id=place.enter,
            event="field_changed",
            field="title",
        ),
    )
    created(leads, entity, "i-1")

    leads.update_deal(TENANT, "i-1", title="Northwind, renamed")
    leads.drain()

    moved = leads.get_deal(TENANT, "i-1")
    assert moved is not None and (moved.entity, moved.stage_id) == (entity, place.enter)
    assert only_run(leads, "i-1", "renamed") == "completed"


@ENTITIES
def test_a_business_process_of_the_entity_runs_when_an_item_changes(leads: MotoStack, entity: str) -> None:
    process = BusinessProcess.model_validate(
        {
            "id": "changed",
            "name": "Tell the head about changes",
            "entity": entity,
            "start_on": ["change"],
            "nodes": [{"kind": "action", "name": "E-mail", "action": EMAIL.model_dump(mode="json")}],
        }
    )
    leads.put_automation(TENANT, process)
    created(leads, entity, "i-1")

    leads.update_deal(TENANT, "i-1", title="Northwind, changed")
    leads.drain()

    assert [e.subject for e in leads.emails()] == [f"Northwind, changed: {PLACES[entity].names[0]}"]
    assert only_run(leads, "i-1", "changed") == "completed"


@ENTITIES
def test_test_mode_runs_on_a_stored_item_and_sends_nothing(leads: MotoStack, entity: str) -> None:
    place = PLACES[entity]
    leads.put_rule(
        TENANT, Rule(id="entered", name="Entered", pipeline_id=place.pipeline, stage_id=place.enter, actions=[EMAIL])
    )
    created(leads, entity, "i-1")

    status, body = leads.api("POST", "/automation/entered/test", {"deal_id": "i-1"}, claims=ADMIN)

    assert status == 200, body
    assert (body["status"], body["test"], body["deal_id"]) == ("completed", True, "i-1")
    [email] = [s for s in body["steps"] if s["name"] == "action-1-send_email"]
    assert email["detail"]["subject"] == f"Northwind {entity}: {place.names[1]}"
    assert leads.emails() == []


@ENTITIES
def test_a_field_step_workflow_marks_the_items_step_when_its_field_is_filled(leads: MotoStack, entity: str) -> None:
    place = PLACES[entity]
    leads.put_field(TENANT, FieldDefinition(code="called_back_on", name="Called back on", kind="date"))
    workflow = FieldStepWorkflow(
        id="wf-callback",
        name="Called back",
        field_code="called_back_on",
        pipeline_id=place.step_at[0],
        step_id=place.step,
    )
    leads.automation.put_definition(TENANT, workflow)
    created(leads, entity, "i-1", at=place.step_at)

    leads.update_deal(TENANT, "i-1", fields={"called_back_on": "2026-12-01"})
    leads.drain()

    marked = leads.get_deal(TENANT, "i-1")
    assert marked is not None and marked.entity == entity
    assert marked.steps[place.step].by == "workflow:wf-callback"


def test_a_rule_moved_from_deals_to_leads_runs_on_leads(leads: MotoStack) -> None:
    status, body = leads.api(
        "POST", "/automation/lost-email/move", {"pipeline_id": "leads", "stage_id": "rejected"}, claims=ADMIN
    )
    assert status == 200, body
    created(leads, "lead", "lead-1")

    leads.move_deal(TENANT, "lead-1", "rejected")
    leads.drain()

    emails = leads.emails()  # one message to each recipient
    assert emails and {email.subject for email in emails} == {"Lost: Northwind lead (900.00 EUR)"}
    assert only_run(leads, "lead-1", "lost-email") == "completed"
