"""Column-level rights applied: what each role may read and write, the view of an item with hidden
fields named (never silently blank), writes of forbidden fields refused naming the field, and
automation refused when it reads a field its author may not read."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from dealflow.language.templates import WHOLE_DEAL
from dealflow.model import Deal, Lead, Role, Tenant
from dealflow.model.access import RESTRICTABLE_FIELDS, RoleRights
from dealflow.model.deal import DealValues
from dealflow.policy.access import (
    Access,
    AccessDenied,
    automation_entity,
    check_author,
    fields_read,
    fields_set,
    rights_of,
    unknown_fields,
)
from tests.fakes import a_rule, a_tenant, automation_of, compiled_tenant, some_fields

CUSTOM = [f.code for f in some_fields()]
REP_RIGHTS = {
    "deals": {"fields": {"amount": "hidden", "currency": "hidden", "what_we_sell": "hidden", "company": "read"}},
    "leads": {"read": False, "write": False},
}
TENANT = a_tenant(rights={"sales_rep": REP_RIGHTS, "sales_manager": {"deals": {"write": False}}})
DEAL = Deal(
    tenant_id="acme",
    id="deal-3001",
    pipeline_id="sales",
    stage_id="new",
    title="Fleet lease",
    amount=Decimal("98000.00"),
    currency="EUR",
    responsible_id="u-anna",
    company="Contoso",
    fields={"what_we_sell": "products", "region": "north"},
)
NOTIFY = {"kind": "notify", "to": {"users": ["u-head"]}, "message": "Won: {{ deal.title }}"}


def _access(role: Role, entity: str = "deal", tenant: Tenant = TENANT) -> Access:
    return Access.of(tenant, CUSTOM, role, entity)


def _denied(call: Any, *args: Any) -> AccessDenied:
    with pytest.raises(AccessDenied) as exc:
        call(*args)
    assert exc.value.status == 403
    return exc.value


# --- what each role may do ---------------------------------------------------------------------------------


def test_a_role_the_tenant_names_no_rights_for_may_do_everything() -> None:
    assert rights_of(TENANT, Role.ADMIN) == RoleRights()
    admin = _access(Role.ADMIN)
    assert admin.hidden_fields == []
    assert set(admin.effective().fields.values()) == {"write"}
    admin.require_read()
    admin.require_write([*RESTRICTABLE_FIELDS, *CUSTOM])


def test_each_field_has_the_level_its_role_gives_it() -> None:
    rep = _access(Role.SALES_REP)
    levels = rep.effective().fields
    assert (levels["amount"], levels["what_we_sell"], levels["company"], levels["title"], levels["region"]) == (
        "hidden",
        "hidden",
        "read",
        "write",
        "write",
    )
    assert set(levels) == {*RESTRICTABLE_FIELDS, *CUSTOM}  # every known field spelled out
    assert rep.hidden_fields == ["amount", "currency", "what_we_sell"]
    assert (rep.readable("company"), rep.readable("amount")) == (True, False)


def test_an_entity_without_write_makes_every_field_read_only() -> None:
    manager = _access(Role.SALES_MANAGER)
    assert set(manager.effective().fields.values()) == {"read"} and manager.hidden_fields == []
    manager.require_read()
    refused = _denied(manager.require_write, ["title"])
    assert refused.reason == "your role (sales_manager) may not change deals" and "field" not in refused.details


def test_an_entity_without_read_hides_everything_and_refuses_reading() -> None:
    rep_on_leads = _access(Role.SALES_REP, "lead")
    assert rep_on_leads.hidden_fields == sorted({*RESTRICTABLE_FIELDS, *CUSTOM})
    assert _denied(rep_on_leads.require_read).reason == "your role (sales_rep) may not read leads"
    assert "may not change leads" in _denied(rep_on_leads.require_write, []).reason


@pytest.mark.parametrize(
    ("fields", "refused", "why"),
    [
        (["title", "company"], "company", "read-only"),
        (["title", "amount"], "amount", "hidden"),
        (["what_we_sell"], "what_we_sell", "hidden"),
        (["stage_id", "currency", "amount"], "amount", "hidden"),  # the first in order is named
    ],
)
def test_a_write_of_a_field_the_role_may_not_write_names_the_field(fields: list[str], refused: str, why: str) -> None:
    denied = _denied(_access(Role.SALES_REP).require_write, fields)
    assert denied.details == {"field": refused}
    assert denied.reason == (f"your role (sales_rep) may not change the deal field '{refused}' (it is {why} for you)")
    assert denied.body()["field"] == refused


def test_a_write_names_every_field_it_sets_custom_removals_included() -> None:
    body = DealValues.model_validate(
        {"pipeline_id": "sales", "stage_id": "new", "title": "T", "amount": None, "fields": {"what_we_sell": None}}
    )
    assert fields_set(body) == {"pipeline_id", "stage_id", "title", "amount", "what_we_sell"}
    assert _denied(_access(Role.SALES_REP).require_write, fields_set(body)).details == {"field": "amount"}
    _access(Role.SALES_REP).require_write(["title", "region", "stage_id"])


# --- the view of an item -----------------------------------------------------------------------------------


def test_the_view_leaves_hidden_fields_out_and_names_them() -> None:
    view = _access(Role.SALES_REP).view(DEAL)
    seen = view.model_dump(mode="json")

    assert seen["hidden_fields"] == ["amount", "currency", "what_we_sell"]
    assert "amount" not in seen and "currency" not in seen  # absent, not null
    assert seen["fields"] == {"region": "north"}
    assert (seen["title"], seen["company"], seen["version"], seen["id"]) == ("Fleet lease", "Contoso", 1, "deal-3001")


def test_a_role_that_sees_everything_gets_the_whole_item() -> None:
    seen = _access(Role.SALES_MANAGER).view(DEAL).model_dump(mode="json")
    assert seen["amount"] == "98000.00" and seen["currency"] == "EUR" and seen["hidden_fields"] == []
    assert seen["fields"] == {"what_we_sell": "products", "region": "north"}


def test_a_lead_is_viewed_as_a_lead() -> None:
    lead = Lead(tenant_id="acme", id="lead-9", pipeline_id="leads", stage_id="new", title="Inbound", amount=5)
    tenant = a_tenant(rights={"sales_rep": {"leads": {"fields": {"amount": "hidden"}}}})
    seen = Access.of(tenant, CUSTOM, Role.SALES_REP, "lead").view(lead).model_dump(mode="json")
    assert seen["entity"] == "lead" and seen["hidden_fields"] == ["amount"] and "amount" not in seen


# --- rights an administrator sets --------------------------------------------------------------------------


def test_rights_may_name_only_fields_a_person_sets() -> None:
    rights = RoleRights.model_validate(
        {
            "deals": {"fields": {"amount": "hidden", "budgett": "read", "id": "hidden", "region": "read"}},
            "leads": {"fields": {"version": "read"}},
        }
    )
    problems = {p["field"]: p["problem"] for p in unknown_fields(rights, CUSTOM)}
    assert problems == {
        "deals.fields.budgett": "no field 'budgett' (neither a standard deal field nor a custom field of this tenant)",
        "deals.fields.id": "'id' is kept by the engine and cannot be restricted",
        "leads.fields.version": "'version' is kept by the engine and cannot be restricted",
    }
    assert unknown_fields(RoleRights.model_validate(REP_RIGHTS), CUSTOM) == []


# --- automation its author may not read --------------------------------------------------------------------


def _author(hidden: dict[str, str], entity: str = "deal") -> Access:
    tenant = a_tenant(rights={"admin": {f"{entity}s": {"fields": hidden}}})
    return Access.of(tenant, CUSTOM, Role.ADMIN, entity)


@pytest.mark.parametrize(
    ("changes", "field", "at"),
    [
        (
            {
                "condition": {
                    "all": [{"field": "title", "op": "is_not_empty"}, {"field": "amount", "op": "gt", "value": 10}]
                }
            },
            "amount",
            "condition.all.1.field",
        ),
        ({"actions": [{**NOTIFY, "message": "{{ deal['amount'] | money }} won"}]}, "amount", "actions.0.message"),
        (
            {
                "actions": [
                    NOTIFY,
                    {
                        "kind": "send_email",
                        "to": {"responsible": True},
                        "subject": "Hi",
                        "body": "{{ deal.what_we_sell }}",
                    },
                ]
            },
            "what_we_sell",
            "actions.1.body",
        ),
        ({"actions": [{**NOTIFY, "message": "{{ deal }}"}]}, "amount", "actions.0.message"),  # the first hidden one
        ({"actions": [{**NOTIFY, "message": "{{ deal.fields }}"}]}, "what_we_sell", "actions.0.message"),
        (
            {"actions": [{"kind": "update_fields", "values": {"title": {"expression": "deal.title ~ deal.amount"}}}]},
            "amount",
            "actions.0.values.title.expression",
        ),
        (
            {"actions": [{"kind": "update_fields", "values": {"what_we_sell": {"value": "services"}}}]},
            "what_we_sell",
            "actions.0.values.what_we_sell",
        ),
        (
            {"delay": {"days": -1, "relative_to_field": "what_we_sell"}, "actions": [NOTIFY]},
            "what_we_sell",
            "delay.relative_to_field",
        ),
    ],
)
def test_automation_reading_a_field_its_author_may_not_read_is_refused_naming_where(
    changes: dict[str, Any], field: str, at: str
) -> None:
    author = _author({"amount": "hidden", "what_we_sell": "hidden"})
    denied = _denied(check_author, a_rule("won-big", **changes), author)
    assert denied.details == {"field": field, "at": at}
    assert denied.reason == f"{at} uses the deal field '{field}', which your role (admin) may not read"


def test_automation_reading_only_what_its_author_may_read_is_accepted() -> None:
    author = _author({"amount": "hidden", "company": "read"})
    check_author(a_rule("ok", {**NOTIFY, "message": "{{ deal.title }} for {{ deal.company }}"}), author)
    check_author(a_rule("ok", {**NOTIFY, "message": "{{ deal.fields }}"}), author)  # no custom field is hidden
    _denied(check_author, a_rule("whole", {**NOTIFY, "message": "{{ deal }}"}), author)


def test_a_business_process_is_checked_in_every_branch_and_loop() -> None:
    process = automation_of(
        kind="business_process",
        id="bp",
        name="Outcome",
        start_on=["change"],
        nodes=[
            {
                "kind": "condition",
                "branches": [
                    {
                        "name": "won",
                        "condition": {"field": "stage_id", "op": "equals", "value": "won"},
                        "nodes": [
                            {
                                "kind": "loop",
                                "while": {"any": [{"field": "company", "op": "is_empty"}]},
                                "nodes": [{"kind": "delay", "delay": {"days": 1}}],
                            }
                        ],
                    }
                ],
            }
        ],
    )
    denied = _denied(check_author, process, _author({"company": "hidden"}))
    assert denied.details == {"field": "company", "at": "nodes.0.branches.0.nodes.0.while.any.0.field"}
    check_author(process, _author({}))


def test_automation_on_leads_is_checked_against_the_rights_on_leads() -> None:
    known = compiled_tenant(a_tenant(rights={"admin": {"deals": {"fields": {"company": "hidden"}}}}))
    on_leads = a_rule("lead-note", {**NOTIFY, "message": "{{ deal.company }}"}, pipeline_id="leads", stage_id="new")
    on_deals = on_leads.model_copy(update={"pipeline_id": "sales"})

    def author_of(automation: Any) -> Access:  # as the API picks the rights: by the automation's entity
        entity = automation_entity(automation, known.pipelines) or "deal"
        return Access.of(known.tenant, known.fields, Role.ADMIN, entity)

    check_author(on_leads, author_of(on_leads))
    assert _denied(check_author, on_deals, author_of(on_deals)).details["field"] == "company"
    assert automation_entity(known.by_id["lead-satisfied"], known.pipelines) == "lead"
    assert automation_entity(a_rule("r", pipeline_id="gone"), known.pipelines) is None


def test_what_automation_reads_is_listed_with_where() -> None:
    rule = a_rule(
        "r",
        {**NOTIFY, "message": "{{ deal }}"},
        condition={"field": "region", "op": "equals", "value": "north"},
    )
    assert [(u.field, u.at) for u in fields_read(rule)] == [
        ("region", "condition.field"),
        (WHOLE_DEAL, "actions.0.message"),
    ]
