"""globex, the demo's second tenant: its whole won/lost handling is one business process, the worked
example of PRODUCT.md (acme's pipelines and fields, its own people and commission percentage)."""

from __future__ import annotations

from dealflow.local.stack import MotoStack
from dealflow.local.tenants import demo_fields, demo_pipelines, people_tenant
from dealflow.model import BusinessProcess, FieldDefinition, Tenant
from dealflow.model.catalog import Definition
from dealflow.model.fields import FieldKind
from dealflow.store.automation import AutomationStore

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


def globex_tenant() -> Tenant:
    """Globex's own people (the same roles as acme's, under the same user ids) and the commission
    percentage its process computes with."""
    people = {
        "u-anna": "Anna Berg",
        "u-piotr": "Piotr Lund",
        "u-head": "Helena Hart",
        "u-pm": "Paul Palmer",
        "u-admin": "Ada Adler",
    }
    commission = {"commission_pct": {"type": "number", "value": "7.5"}}
    return people_tenant(PROCESS_TENANT, "Globex", people, variables=commission)


def store_globex(automation: AutomationStore) -> None:
    """globex: its whole won/lost handling is the worked-example process."""
    automation.put_tenant(globex_tenant())
    commission = FieldDefinition(code="commission", name="Commission", kind=FieldKind.NUMBER)
    definitions: list[Definition] = [demo_pipelines()[0], *demo_fields(), commission, worked_example()]
    for definition in definitions:
        automation.put_definition(PROCESS_TENANT, definition)


def set_up_process_tenant(stack: MotoStack) -> None:
    store_globex(stack.automation)
