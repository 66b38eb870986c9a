"""The demo tenants, as the integration tests, the sample events' seed and the demo set them up.

acme (Acme Consulting) runs its pipelines on stage rules, a tunnel, triggers and a field–step
workflow; globex (Globex, ``dealflow.local.globex``) handles every won and lost deal with one
business process, the worked example of PRODUCT.md. Each tenant has its own people: user ids match
(the automation names them), e-mail addresses do not.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dealflow.local.stack import MotoStack
from dealflow.model import (
    Clause,
    Contact,
    CreateTask,
    CreateWorkgroup,
    Deal,
    Delay,
    FieldDefinition,
    Lead,
    Notify,
    Pipeline,
    Recipients,
    Rule,
    SendEmail,
    Stage,
    Tenant,
    Trigger,
    Tunnel,
    User,
)
from dealflow.model.catalog import Definition
from dealflow.model.fields import FieldKind
from dealflow.model.pipeline import StageSemantic, Step
from dealflow.model.tenant import Role
from dealflow.model.workflow import FieldStepWorkflow
from dealflow.store.automation import AutomationStore

TENANT = "acme"

LOST_EMAIL_BODY = """Deal lost: {{ deal.title }}
Company: {{ deal.company }}
Amount: {{ deal.amount }} {{ deal.currency }}
Responsible: {{ deal.responsible.name }}
What we sell: {{ deal.what_we_sell }}

Open the deal: {{ const.crm_url }}/crm/deal/show/{{ deal.id }}/
"""


def people_tenant(tenant_id: str, name: str, people: dict[str, str], **values: Any) -> Tenant:
    """A demo tenant: its people (e-mail addresses at ``<tenant id>.example``), its CRM's address
    and the head of sales as constants, and any further settings (``variables``)."""
    roles = {"u-head": Role.SALES_MANAGER, "u-admin": Role.ADMIN}
    users = [
        User(
            id=user_id,
            name=full_name,
            email=f"{full_name.split()[0].lower()}@{tenant_id}.example",
            role=roles.get(user_id, Role.SALES_REP),
        )
        for user_id, full_name in people.items()
    ]
    constants = {"crm_url": f"https://crm.{tenant_id}.example", "head_of_sales": "u-head"}
    return Tenant.model_validate({"id": tenant_id, "name": name, "users": users, "constants": constants, **values})


def demo_tenant() -> Tenant:
    people = {
        "u-anna": "Anna Kowalska",
        "u-piotr": "Piotr Nowak",
        "u-head": "Helena Head",
        "u-pm": "Paul Project",
        "u-admin": "Ada Admin",
    }
    return people_tenant(TENANT, "Acme Consulting", people)


def demo_pipelines() -> list[Pipeline]:
    return [
        Pipeline(
            id="sales",
            name="New business",
            stages=[
                Stage(
                    id="new",
                    name="New",
                    steps=[Step(id="qualify", name="Qualify the need"), Step(id="first_meeting", name="First meeting")],
                ),
                Stage(id="proposal", name="Proposal sent", steps=[Step(id="send_proposal", name="Send the proposal")]),
                Stage(id="negotiation", name="Negotiation", steps=[Step(id="agree_terms", name="Agree the terms")]),
                Stage(id="won", name="Closed won", semantic=StageSemantic.WON),
                Stage(id="lost", name="Closed lost", semantic=StageSemantic.LOST),
            ],
        ),
        Pipeline(
            id="renewals",
            name="Renewals",
            stages=[
                Stage(id="due", name="Renewal due"),
                Stage(id="renewed", name="Renewed", semantic=StageSemantic.WON),
                Stage(id="churned", name="Churned", semantic=StageSemantic.LOST),
            ],
        ),
        Pipeline(
            id="delivery",
            name="Delivery",
            stages=[
                Stage(id="kickoff", name="Kick-off"),
                Stage(id="in_delivery", name="In delivery"),
                Stage(id="delivered", name="Delivered", semantic=StageSemantic.WON),
            ],
        ),
        Pipeline(
            id="leads",
            name="Leads",
            entity="lead",
            stages=[
                Stage(id="new", name="New lead"),
                Stage(id="qualified", name="Qualified"),
                Stage(id="waiting", name="Deal in progress"),
                Stage(id="need_satisfied", name="Need satisfied", semantic=StageSemantic.WON),
                Stage(id="rejected", name="Rejected", semantic=StageSemantic.LOST),
            ],
        ),
    ]


def demo_fields() -> list[FieldDefinition]:
    return [
        FieldDefinition(
            code="what_we_sell", name="What we sell", kind=FieldKind.LIST, options=["services", "products", "other"]
        ),
        FieldDefinition(code="proposal_sent_on", name="Proposal sent on", kind=FieldKind.DATE),
    ]


def demo_workflow() -> FieldStepWorkflow:
    """Livespace's field–step workflow: the day the proposal went out and the step "send the
    proposal" go together."""
    return FieldStepWorkflow(
        id="proposal-sent",
        name="Proposal sent: date and step",
        field_code="proposal_sent_on",
        pipeline_id="sales",
        step_id="send_proposal",
    )


def demo_rules() -> list[Rule]:
    return [
        Rule(
            id="won-services-workgroup",
            name="Won services deal: project workgroup",
            pipeline_id="sales",
            stage_id="won",
            condition=Clause(field="what_we_sell", op="equals", value="services"),
            actions=[CreateWorkgroup(name="{{ deal.title }}", members=["u-pm", "u-head"])],
        ),
        Rule(
            id="won-notify-head",
            name="Won deal: tell the head of sales",
            pipeline_id="sales",
            stage_id="won",
            actions=[
                Notify(
                    to=Recipients(users=["u-head"]),
                    message="Deal won: {{ deal.title }} for {{ deal.amount }} {{ deal.currency }}",
                )
            ],
        ),
        Rule(
            id="lost-email",
            name="Lost deal: e-mail the team",
            pipeline_id="sales",
            stage_id="lost",
            actions=[
                SendEmail(
                    to=Recipients(users=["u-head", "u-anna"]),
                    subject="Lost: {{ deal.title }} ({{ deal.amount }} {{ deal.currency }})",
                    body=LOST_EMAIL_BODY,
                )
            ],
        ),
        Rule(
            id="proposal-follow-up",
            name="Proposal unanswered for 2 days: follow up",
            pipeline_id="sales",
            stage_id="proposal",
            delay=Delay(days=2),
            actions=[
                SendEmail(
                    to=Recipients(responsible=True),
                    subject="Follow up: {{ deal.title }}",
                    body="The proposal for {{ deal.company }} has waited 2 days. Call {{ deal.contact.name }}.",
                ),
                CreateTask(title="Call {{ deal.contact.name }} about {{ deal.title }}", due_in_days=1),
            ],
        ),
    ]


def demo_tunnels() -> list[Tunnel]:
    return [
        Tunnel(
            id="won-to-delivery",
            name="Won services deals go to delivery",
            pipeline_id="sales",
            stage_id="won",
            target_pipeline_id="delivery",
            target_stage_id="kickoff",
            mode="copy",
            condition=Clause(field="what_we_sell", op="equals", value="services"),
        )
    ]


def demo_triggers() -> list[Trigger]:
    return [
        # Leads follow their deals: plain triggers on the lead pipeline, no special process.
        Trigger(
            id="lead-satisfied",
            name="Linked deal won: need satisfied",
            pipeline_id="leads",
            stage_id="need_satisfied",
            event="linked_deal_won",
        ),
        Trigger(
            id="lead-rejected",
            name="Linked deal lost: lead rejected",
            pipeline_id="leads",
            stage_id="rejected",
            event="linked_deal_lost",
        ),
        Trigger(
            id="invoice-paid", name="Invoice paid: deal won", pipeline_id="sales", stage_id="won", event="invoice_paid"
        ),
    ]


def store_acme(automation: AutomationStore, *, since: int = 0) -> None:
    """acme's people, pipelines, fields, rules, tunnel, triggers and field–step workflow; its
    automation version counts on from ``since`` (a re-seed carries on past the old one)."""
    automation.put_tenant(demo_tenant().model_copy(update={"automation_version": since}))
    definitions: list[Definition] = [*demo_pipelines(), *demo_fields(), *demo_rules(), *demo_tunnels()]
    for definition in (*definitions, *demo_triggers(), demo_workflow()):
        automation.put_definition(TENANT, definition)


def set_up(stack: MotoStack) -> None:
    store_acme(stack.automation)


def demo_deal(
    deal_id: str,
    title: str,
    amount: str,
    what_we_sell: str,
    responsible: str = "u-anna",
    company: str = "Northwind",
    lead_id: str | None = None,
) -> Deal:
    return Deal(
        tenant_id=TENANT,
        id=deal_id,
        pipeline_id="sales",
        stage_id="new",
        title=title,
        amount=Decimal(amount),
        currency="EUR",
        responsible_id=responsible,
        company=company,
        contact=Contact(name="Nora North", email="nora@northwind.example"),
        fields={"what_we_sell": what_we_sell},
        lead_id=lead_id,
    )


def demo_lead(lead_id: str, title: str, stage_id: str = "waiting") -> Lead:
    return Lead(
        tenant_id=TENANT,
        id=lead_id,
        pipeline_id="leads",
        stage_id=stage_id,
        title=title,
        responsible_id="u-anna",
        contact=Contact(name="Nora North", email="nora@northwind.example"),
    )
