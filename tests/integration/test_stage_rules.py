"""Stage rules fire exactly when a deal enters their stage and their condition holds."""

from __future__ import annotations

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal


def _won(stack: MotoStack, deal_id: str, what_we_sell: str) -> None:
    stack.create_deal(demo_deal(deal_id, f"Deal {deal_id}", "12500.00", what_we_sell))
    stack.drain()
    stack.move_deal(TENANT, deal_id, "won")
    stack.drain()


def test_won_services_deal_gets_a_workgroup_owned_by_its_responsible_user(stack: MotoStack) -> None:
    _won(stack, "d-1", "services")

    [group] = stack.workgroups(TENANT)
    assert group["name"] == "Deal d-1"
    assert group["owner_id"] == "u-anna"
    assert group["members"] == ["u-anna", "u-pm", "u-head"]
    assert group["deal_id"] == "d-1"


def test_won_products_deal_gets_no_workgroup_but_head_of_sales_is_notified(stack: MotoStack) -> None:
    _won(stack, "d-2", "products")

    assert stack.workgroups(TENANT) == []
    [note] = stack.notifications()
    assert note.users == ["u-head"]
    assert note.message == "Deal won: Deal d-2 for 12500.00 EUR"
    assert note.deal_id == "d-2" and note.tenant_id == TENANT
    [looked_at] = [r for r in stack.runs(TENANT, "d-2") if r.automation_id == "won-services-workgroup"]
    assert looked_at.status == "not_started"  # no run, but the log says why
    assert looked_at.reason == "condition not met"
    [check] = looked_at.steps[0].detail["conditions"]
    assert (check["field"], check["actual"], check["value"], check["result"]) == (
        "what_we_sell",
        "products",
        "services",
        False,
    )


def test_lost_deal_emails_chosen_users_with_details_and_direct_link(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("d-3", "Data migration", "7300.00", "services", company="Fabrikam"))
    stack.move_deal(TENANT, "d-3", "lost")
    stack.drain()

    head, anna = stack.emails()  # one message each: neither sees the other's address
    assert (head.to, anna.to) == (["helena@acme.example"], ["anna@acme.example"])
    assert head.body == anna.body and head.subject == anna.subject
    email = head
    assert email.subject == "Lost: Data migration (7300.00 EUR)"
    assert "Company: Fabrikam" in email.body
    assert "Responsible: Anna Kowalska" in email.body
    assert "https://crm.acme.example/crm/deal/show/d-3/" in email.body


def test_nothing_fires_on_edits_inside_a_stage_or_on_stages_without_rules(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("d-4", "Quiet deal", "100.00", "services"))
    stack.move_deal(TENANT, "d-4", "negotiation")
    stack.update_deal(TENANT, "d-4", title="Quiet deal, renamed")
    stack.drain()
    _won(stack, "d-5", "products")
    stack.update_deal(TENANT, "d-5", title="Edited after winning")  # still in "won": not a new entry
    report = stack.drain()

    assert report.runs_started == 0
    assert len(stack.notifications()) == 1  # only d-5's entry into "won"
    assert stack.emails() == []


def test_a_deal_created_directly_in_a_stage_runs_that_stages_rules(stack: MotoStack) -> None:
    deal = demo_deal("d-6", "Signed on the spot", "900.00", "services").model_copy(update={"stage_id": "won"})
    stack.create_deal(deal)
    stack.drain()

    assert [g["deal_id"] for g in stack.workgroups(TENANT)] == ["d-6"]
    assert [n.deal_id for n in stack.notifications()] == ["d-6"]


def test_each_run_is_in_the_run_log_with_its_steps(stack: MotoStack) -> None:
    _won(stack, "d-7", "services")

    runs = {r.automation_id: r for r in stack.runs(TENANT, "d-7")}
    assert set(runs) == {"won-services-workgroup", "won-notify-head", "won-to-delivery"}
    notify = runs["won-notify-head"]
    assert notify.status == "completed"
    assert notify.started_by == {
        "pipeline_id": "sales",
        "stage_id": "won",
        "from_pipeline_id": "sales",
        "from_stage_id": "new",
    }
    assert [(s.name, s.outcome) for s in notify.steps] == [("check", "passed"), ("action-1-notify", "done")]
    assert notify.steps[-1].detail["message"] == "Deal won: Deal d-7 for 12500.00 EUR"
