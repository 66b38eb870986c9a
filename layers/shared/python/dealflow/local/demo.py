"""A realistic tenant and a day in its sales pipelines, printed as it happens.

``demo_tenant()`` and friends are also what the integration tests set up, so the demo shows
exactly the behaviour the tests check.
"""

from __future__ import annotations

from decimal import Decimal

from dealflow.local.stack import MotoStack
from dealflow.model import (
    BusinessProcess,
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
from dealflow.model.pipeline import Step
from dealflow.model.workflow import FieldStepWorkflow

TENANT = "acme"

LOST_EMAIL_BODY = """Deal lost: {{ deal.title }}
Company: {{ deal.company }}
Amount: {{ deal.amount }} {{ deal.currency }}
Responsible: {{ deal.responsible.name }}
What we sell: {{ deal.what_we_sell }}

Open the deal: {{ const.crm_url }}/crm/deal/show/{{ deal.id }}/
"""


def demo_tenant() -> Tenant:
    return Tenant(
        id=TENANT,
        name="Acme Consulting",
        users=[
            User(id="u-anna", name="Anna Kowalska", email="anna@acme.example", role="sales_rep"),
            User(id="u-piotr", name="Piotr Nowak", email="piotr@acme.example", role="sales_rep"),
            User(id="u-head", name="Helena Head", email="helena@acme.example", role="sales_manager"),
            User(id="u-pm", name="Paul Project", email="paul@acme.example", role="sales_rep"),
            User(id="u-admin", name="Ada Admin", email="ada@acme.example", role="admin"),
        ],
        constants={"crm_url": "https://crm.acme.example", "head_of_sales": "u-head"},
    )


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
                Stage(id="won", name="Closed won", semantic="won"),
                Stage(id="lost", name="Closed lost", semantic="lost"),
            ],
        ),
        Pipeline(
            id="renewals",
            name="Renewals",
            stages=[
                Stage(id="due", name="Renewal due"),
                Stage(id="renewed", name="Renewed", semantic="won"),
                Stage(id="churned", name="Churned", semantic="lost"),
            ],
        ),
        Pipeline(
            id="delivery",
            name="Delivery",
            stages=[
                Stage(id="kickoff", name="Kick-off"),
                Stage(id="in_delivery", name="In delivery"),
                Stage(id="delivered", name="Delivered", semantic="won"),
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
                Stage(id="need_satisfied", name="Need satisfied", semantic="won"),
                Stage(id="rejected", name="Rejected", semantic="lost"),
            ],
        ),
    ]


def demo_fields() -> list[FieldDefinition]:
    return [
        FieldDefinition(
            code="what_we_sell", name="What we sell", kind="list", options=["services", "products", "other"]
        ),
        FieldDefinition(code="proposal_sent_on", name="Proposal sent on", kind="date"),
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


PROCESS_TENANT = "globex"


def worked_example() -> BusinessProcess:
    """PRODUCT.md section 4, as one business process: on add and on change of a deal; won and
    selling services → a workgroup named after the deal; every won deal → the head of sales is told
    title, amount and currency; lost → chosen users get the deal's details and a direct link built
    from a URL variable plus the deal id."""
    entered = {"field": "stage_id", "op": "changed_to"}
    return BusinessProcess.model_validate(
        {
            "id": "deal-outcome",
            "name": "Deal outcome",
            "entity": "deal",
            "start_on": ["add", "change"],
            "variables": {"deal_url": {"type": "text", "value": "https://crm.globex.example/crm/deal/show/"}},
            "nodes": [
                {
                    "kind": "condition",
                    "name": "Won or lost?",
                    "branches": [
                        {
                            "name": "closed won",
                            "condition": {**entered, "value": "won"},
                            "nodes": [
                                {
                                    "kind": "condition",
                                    "name": "What do we sell?",
                                    "branches": [
                                        {
                                            "name": "services",
                                            "condition": {"field": "what_we_sell", "op": "equals", "value": "services"},
                                            "nodes": [
                                                {
                                                    "kind": "action",
                                                    "name": "Project workgroup",
                                                    "action": {
                                                        "kind": "create_workgroup",
                                                        "name": "{{ deal.title }}",
                                                        "members": ["u-pm", "u-head"],
                                                    },
                                                }
                                            ],
                                        }
                                    ],
                                    "otherwise": [],
                                },
                                {
                                    "kind": "action",
                                    "name": "Commission",
                                    "action": {
                                        "kind": "update_fields",
                                        "values": {
                                            "commission": {"expression": "deal.amount * var.commission_pct / 100"}
                                        },
                                    },
                                },
                                {
                                    "kind": "action",
                                    "name": "Tell the head of sales",
                                    "action": {
                                        "kind": "notify",
                                        "to": {"users": ["u-head"]},
                                        "message": "Won: {{ deal.title }}, {{ deal.amount }} {{ deal.currency }} "
                                        "(commission {{ deal.commission | money }})",
                                    },
                                },
                            ],
                        },
                        {
                            "name": "closed lost",
                            "condition": {**entered, "value": "lost"},
                            "nodes": [
                                {
                                    "kind": "action",
                                    "name": "E-mail the team",
                                    "action": {
                                        "kind": "send_email",
                                        "to": {"users": ["u-head", "u-anna"]},
                                        "subject": "Lost: {{ deal.title }}",
                                        "body": "{{ deal.title }} for {{ deal.company }} "
                                        "({{ deal.amount }} {{ deal.currency }}) "
                                        "was lost.\nOpen it: {{ var.deal_url }}{{ deal.id }}/",
                                    },
                                }
                            ],
                        },
                    ],
                }
            ],
        }
    )


def set_up_process_tenant(stack: MotoStack) -> None:
    """A second tenant that runs its whole won/lost handling as the worked-example process."""
    tenant = demo_tenant().model_copy(update={"id": PROCESS_TENANT, "name": "Globex"})
    stack.put_tenant(
        tenant.model_validate(
            {**tenant.model_dump(), "variables": {"commission_pct": {"type": "number", "value": "7.5"}}}
        )
    )
    stack.put_pipeline(PROCESS_TENANT, demo_pipelines()[0])
    for definition in (*demo_fields(), FieldDefinition(code="commission", name="Commission", kind="number")):
        stack.put_field(PROCESS_TENANT, definition)
    stack.put_automation(PROCESS_TENANT, worked_example())


def set_up(stack: MotoStack) -> None:
    stack.put_tenant(demo_tenant())
    for pipeline in demo_pipelines():
        stack.put_pipeline(TENANT, pipeline)
    for definition in demo_fields():
        stack.put_field(TENANT, definition)
    for automation in (*demo_rules(), *demo_tunnels(), *demo_triggers()):
        stack.put_automation(TENANT, automation)
    stack.automation.put_definition(TENANT, demo_workflow())


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


class _Printer:
    """Prints only what is new since the last call."""

    def __init__(self, stack: MotoStack, tenant_id: str = TENANT) -> None:
        self.stack, self.tenant_id = stack, tenant_id
        self.seen_emails, self.seen_notes = len(stack.emails()), len(stack.notifications())
        self.seen_groups, self.seen_tasks = len(stack.workgroups(tenant_id)), len(stack.tasks(tenant_id))
        self.seen_runs: set[tuple[str, str]] = set()

    def show(self) -> None:
        stack = self.stack
        for run in reversed(stack.runs(self.tenant_id)):
            if (run.run_id, run.status) in self.seen_runs:
                continue
            self.seen_runs.add((run.run_id, run.status))
            detail = f" — {run.reason}" if run.reason else ""
            wake = f" until {run.wake_at[:16]}" if run.status == "waiting" and run.wake_at else ""
            kind = run.automation_kind.replace("_", " ")
            status = run.status.replace("_", " ")
            print(f"  {kind} '{run.automation_name}' on {run.deal_id}: {status}{wake}{detail}")
        for email in stack.emails()[self.seen_emails :]:
            print(f"  e-mail to {', '.join(email.to)}\n    subject: {email.subject}")
            print("    " + email.body.strip().replace("\n", "\n    "))
        for note in stack.notifications()[self.seen_notes :]:
            print(f"  notification to {', '.join(note.users)}: {note.message}")
        for group in stack.workgroups(self.tenant_id)[self.seen_groups :]:
            print(f"  workgroup '{group['name']}' owner {group['owner_id']}, members {', '.join(group['members'])}")
        for task in stack.tasks(self.tenant_id)[self.seen_tasks :]:
            print(f"  task for {task['assignee_id']}: {task['title']} (due {task.get('due_date', '-')})")
        self.seen_emails, self.seen_notes = len(stack.emails()), len(stack.notifications())
        self.seen_groups, self.seen_tasks = len(stack.workgroups(self.tenant_id)), len(stack.tasks(self.tenant_id))


def run_demo(stack: MotoStack) -> None:
    set_up(stack)
    out = _Printer(stack)
    print(
        f"Tenant {TENANT}: {len(demo_pipelines())} pipelines, {len(demo_rules())} rules, "
        f"{len(demo_tunnels())} tunnel, {len(demo_triggers())} triggers\n"
    )

    scenes = [
        (
            "Anna creates three deals",
            lambda: [
                stack.create_deal(d)
                for d in (
                    demo_deal("deal-1001", "Website redesign", "12500.00", "services"),
                    demo_deal(
                        "deal-1002", "Laptop fleet", "48900.00", "products", responsible="u-piotr", company="Contoso"
                    ),
                    demo_deal("deal-1003", "Data migration", "7300.00", "services", company="Fabrikam"),
                )
            ],
        ),
        ("deal-1001 (services) is closed won", lambda: stack.move_deal(TENANT, "deal-1001", "won")),
        ("deal-1002 (products) is closed won", lambda: stack.move_deal(TENANT, "deal-1002", "won")),
        ("deal-1003 is closed lost", lambda: stack.move_deal(TENANT, "deal-1003", "lost")),
        (
            "a new deal-1004 gets a proposal",
            lambda: (
                stack.create_deal(demo_deal("deal-1004", "Cloud audit", "5200.00", "services", company="Litware")),
                stack.move_deal(TENANT, "deal-1004", "proposal"),
            ),
        ),
    ]
    for title, act in scenes:
        print(f"▶ {title}")
        act()
        stack.drain()
        out.show()
        print()
    print("▶ two days pass")
    stack.advance(days=2)
    out.show()

    print("▶ Anna records the day deal-1004's proposal went out (field–step workflow 'proposal-sent')")
    deal_1004 = stack.get_deal(TENANT, "deal-1004")
    assert deal_1004 is not None
    anna = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}
    status, reply = stack.api(
        "PATCH",
        "/deals/deal-1004",
        {"version": deal_1004.version, "fields": {"proposal_sent_on": "2026-11-20"}},
        claims=anna,
    )
    print(f"  PATCH /deals/deal-1004 → {status}; step 'send_proposal' done by {reply['steps']['send_proposal']['by']}")

    print("\n▶ lead-501 (website for Tailspin) turns into deal-1005")
    stack.create_deal(demo_lead("lead-501", "Website for Tailspin"))
    stack.create_deal(
        demo_deal("deal-1005", "Tailspin website", "9900.00", "services", company="Tailspin", lead_id="lead-501")
    )
    stack.move_deal(TENANT, "deal-1005", "negotiation")
    stack.drain()
    out.show()
    print("\n▶ the billing system reports deal-1005's invoice paid (signed webhook)")
    stack.set_webhook_secret(TENANT, "demo-webhook-secret")
    status, reply = stack.post_webhook(TENANT, {"id": "inv-77-paid", "kind": "invoice_paid", "deal_id": "deal-1005"})
    print(f"  POST /webhooks/{TENANT} → {status} {reply}")
    stack.drain()
    out.show()
    deal, lead = stack.get_deal(TENANT, "deal-1005"), stack.get_deal(TENANT, "lead-501")
    assert deal is not None and lead is not None
    print(f"  deal-1005 is now in '{deal.stage_id}'; its copy in delivery: {', '.join(deal.copy_ids) or '-'}")
    print(f"  lead-501 followed its deal to '{lead.stage_id}'")
    status, reply = stack.post_webhook(TENANT, {"id": "inv-77-paid", "kind": "invoice_paid", "deal_id": "deal-1005"})
    print(f"  the same event again → {status} {reply.get('error')}: nothing moves twice")

    print(f"\nTenant {PROCESS_TENANT}: the same outcomes as one business process ('Deal outcome')\n")
    set_up_process_tenant(stack)
    out = _Printer(stack, PROCESS_TENANT)
    for deal_id, what, stage in (("g-1", "services", "won"), ("g-2", "products", "lost")):
        deal = demo_deal(deal_id, f"Globex deal {deal_id}", "12500.00", what).model_copy(
            update={"tenant_id": PROCESS_TENANT}
        )
        print(f"▶ {deal_id} ({what}) is created, then closed {stage}")
        stack.create_deal(deal)
        stack.move_deal(PROCESS_TENANT, deal_id, stage)
        stack.drain()
        out.show()
        print()


def main(endpoint: str | None = None, server: bool = False) -> None:
    with MotoStack(endpoint=endpoint, server=server) as stack:
        run_demo(stack)
