"""Deploy-safe data: a run waits on the version it started on while a newer version writes items
with attributes the older one has never heard of. The older run reads them tolerantly, finishes,
and keeps what it does not know when it writes the deal back."""

from __future__ import annotations

from typing import Any

import boto3

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import Delay, FieldValue, Notify, Recipients, Rule, UpdateFields


def _newer(table: Any, key: dict[str, str], change: Any) -> None:
    """Rewrite one item as a newer version would: ``change`` adds attributes to it."""
    item = table.get_item(Key=key)["Item"]
    change(item)
    table.put_item(Item=item)


def _a_newer_deal(item: dict[str, Any]) -> None:
    item["priority"] = "high"
    item["contact"]["linkedin"] = "nora-north"


def _a_newer_tenant(item: dict[str, Any]) -> None:
    item["billing_region"] = "eu"
    item["automation_version"] += 1  # a newer version's definition write bumps it: caches read again


def _a_newer_user(item: dict[str, Any]) -> None:
    item["locale"] = "pl"


def _a_newer_pipeline(item: dict[str, Any]) -> None:
    item["color"] = "#2a6"
    item["stages"][1]["probability"] = 40


def _a_newer_field(item: dict[str, Any]) -> None:
    item["help_text"] = "What the customer buys"


def _a_newer_rule(item: dict[str, Any]) -> None:
    item["labels"] = ["follow-up"]
    item["actions"][0]["track_opens"] = True


def test_runs_waiting_across_a_deploy_finish_on_items_a_newer_version_wrote(stack: MotoStack) -> None:
    check_in = Rule(
        id="negotiation-check-in",
        name="A day into negotiation: mark it and tell the head",
        pipeline_id="sales",
        stage_id="negotiation",
        delay=Delay(days=1),
        actions=[
            UpdateFields(values={"what_we_sell": FieldValue(value="other")}),
            Notify(to=Recipients(users=["u-head"]), message="Check in on {{ deal.title }}"),
        ],
    )
    stack.put_rule(TENANT, check_in)
    stack.create_deal(demo_deal("d-1", "Proposal for Litware", "5200.00", "services", company="Litware"))
    stack.create_deal(demo_deal("d-2", "Fabrikam rollout", "9000.00", "services", company="Fabrikam"))
    stack.move_deal(TENANT, "d-1", "proposal")
    stack.move_deal(TENANT, "d-2", "negotiation")
    stack.drain()
    waiting = {r.deal_id: r for r in stack.runs(TENANT) if r.status == "waiting"}
    assert {(d, r.automation_id) for d, r in waiting.items()} == {
        ("d-1", "proposal-follow-up"),
        ("d-2", "negotiation-check-in"),
    }

    dynamodb = boto3.resource("dynamodb")
    deals = dynamodb.Table(stack.resources.tables["DealsTable"])
    automation = dynamodb.Table(stack.resources.tables["AutomationTable"])
    for deal_id in ("d-1", "d-2"):
        _newer(deals, {"tenant_id": TENANT, "id": deal_id}, _a_newer_deal)
    _newer(automation, {"tenant_id": TENANT, "sk": "TENANT"}, _a_newer_tenant)
    first_user = stack.automation.get_tenant(TENANT).users[0].id  # users are items of their own
    _newer(automation, {"tenant_id": TENANT, "sk": f"TENANT#USER#{first_user}"}, _a_newer_user)
    _newer(automation, {"tenant_id": TENANT, "sk": "DEF#PIPELINE#sales"}, _a_newer_pipeline)
    _newer(automation, {"tenant_id": TENANT, "sk": "DEF#FIELD#what_we_sell"}, _a_newer_field)
    _newer(automation, {"tenant_id": TENANT, "sk": "DEF#RULE#proposal-follow-up"}, _a_newer_rule)
    _newer(automation, {"tenant_id": TENANT, "sk": "DEF#RULE#negotiation-check-in"}, _a_newer_rule)
    stack.drain()  # the deals' rewrites reach the dispatcher through the stream

    stack.advance(days=2)

    ended = {r.deal_id: r.status for r in stack.runs(TENANT) if r.run_id in {w.run_id for w in waiting.values()}}
    assert ended == {"d-1": "completed", "d-2": "completed"}
    assert [e.subject for e in stack.emails()] == ["Follow up: Proposal for Litware"]
    assert [n.message for n in stack.notifications()] == ["Check in on Fabrikam rollout"]
    assert stack.failed_batches() == []
    # The older run wrote d-2 back: its change landed, and the newer version's attributes stayed.
    written = deals.get_item(Key={"tenant_id": TENANT, "id": "d-2"})["Item"]
    assert written["fields"]["what_we_sell"] == "other"
    assert written["priority"] == "high" and written["caused_by"]["automation_id"] == "negotiation-check-in"
    # Everything a person reads still reads, with what this version knows.
    assert stack.get_deal(TENANT, "d-1").contact.name == "Nora North"  # type: ignore[union-attr]
    assert stack.automation.get_tenant(TENANT).users[0].id
