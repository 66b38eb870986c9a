"""Actions as a user sees them: values written into fields, who gets an e-mail, what it says."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from dealflow.engine.actions import ActionContext, ActionError, Services
from dealflow.engine.actions.deals import coerce, update_fields
from dealflow.engine.actions.messages import render_email, render_notification
from dealflow.engine.changes import flat
from dealflow.language.conditions import compile_condition
from dealflow.language.templates import TemplateError
from dealflow.model import (
    Causation,
    Clause,
    Contact,
    Deal,
    FieldDefinition,
    Notify,
    Pipeline,
    Recipients,
    SendEmail,
    Stage,
    Tenant,
    UpdateFields,
    User,
)
from dealflow.store.items import to_item

NUMBER = FieldDefinition(code="budget", name="Budget", kind="number")
CHECKBOX = FieldDefinition(code="signed", name="Signed", kind="checkbox")
DATE = FieldDefinition(code="deadline", name="Deadline", kind="date")
LIST = FieldDefinition(code="sells", name="What we sell", kind="list", options=["services", "products", "other"])
TEXT = FieldDefinition(code="note", name="Note", kind="text")
USER = FieldDefinition(code="accountant", name="Accountant", kind="user")
FIELDS = {f.code: f for f in (NUMBER, CHECKBOX, DATE, LIST, TEXT, USER)}


# --- coerce: values in the type their field holds ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1500", Decimal("1500")),
        ("12.50", Decimal("12.50")),
        (7, Decimal("7")),
        (Decimal("0.1"), Decimal("0.1")),
        (0.1, Decimal("0.1")),  # a float goes through its shortest text, not its binary value
        (" 42 ", Decimal("42")),
    ],
)
def test_number_field_becomes_decimal(raw: Any, expected: Decimal) -> None:
    value = coerce("budget", raw, NUMBER, TENANT)
    assert isinstance(value, Decimal) and value == expected


@pytest.mark.parametrize("raw", ["lots", "", "12,50", True])
def test_number_field_refuses_text_naming_the_field(raw: Any) -> None:
    with pytest.raises(ActionError, match=r"field 'budget': expected a number, got "):
        coerce("budget", raw, NUMBER, TENANT)


NOT_FINITE = (
    "BUG: coerce accepts 'NaN'/'Infinity' as numbers (Decimal parses them): a NaN amount is written and "
    "the deal can no longer be read (Deal refuses non-finite amounts), an infinite amount escapes as a raw "
    "decimal.InvalidOperation from quantize, a NaN number field makes ordered conditions raise"
)


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-inf"])
def test_number_field_refuses_nan_and_infinity(raw: str) -> None:
    with pytest.raises(ActionError, match="budget"):
        coerce("budget", raw, NUMBER, TENANT)


@pytest.mark.parametrize("raw", ["NaN", "Infinity"])
def test_amount_refuses_nan_and_infinity(raw: str) -> None:
    with pytest.raises(ActionError, match="amount"):
        coerce("amount", raw, None, TENANT)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        ("yes", True),
        ("Yes", True),
        ("y", True),
        (" TRUE ", True),
        ("1", True),
        (1, True),
        ("no", False),
        ("false", False),
        ("0", False),
        (0, False),
        ("", False),
    ],
)
def test_checkbox_field(raw: Any, expected: bool) -> None:
    assert coerce("signed", raw, CHECKBOX, TENANT) is expected


@pytest.mark.parametrize("raw", ["lots", "maybe", 2, [True]])
def test_checkbox_field_refuses_what_is_neither_true_nor_false(raw: Any) -> None:
    with pytest.raises(ActionError, match=r"field 'signed': expected true or false, got "):
        coerce("signed", raw, CHECKBOX, TENANT)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-05-01", "2024-05-01"),
        ("2024-05-01T10:30:00+02:00", "2024-05-01"),
        ("2024-05-01T23:59:59Z", "2024-05-01"),
    ],
)
def test_date_field_normalised_to_iso_day(raw: str, expected: str) -> None:
    assert coerce("deadline", raw, DATE, TENANT) == expected


def test_date_field_from_a_date_object() -> None:
    from datetime import date

    assert coerce("deadline", date(2024, 2, 29), DATE, TENANT) == "2024-02-29"


@pytest.mark.parametrize("raw", ["tomorrow", "2024-02-30", "01/05/2024", "2024-13-01"])
def test_date_field_refuses_non_dates_naming_the_field(raw: str) -> None:
    with pytest.raises(ActionError, match=r"field 'deadline': expected a date \(YYYY-MM-DD\), got "):
        coerce("deadline", raw, DATE, TENANT)


def test_list_field_takes_one_of_its_options() -> None:
    assert coerce("sells", "services", LIST, TENANT) == "services"


@pytest.mark.parametrize("raw", ["Services", "consulting", ""])
def test_list_field_refuses_other_values_naming_the_field(raw: str) -> None:
    with pytest.raises(ActionError) as exc:
        coerce("sells", raw, LIST, TENANT)
    message = str(exc.value)
    assert message.startswith("field 'sells':") and "services" in message and "products" in message


def test_text_and_user_fields_become_text() -> None:
    assert coerce("note", Decimal("12.50"), TEXT, TENANT) == "12.50"
    assert coerce("note", "hello", TEXT, TENANT) == "hello"
    assert coerce("accountant", "u2", USER, TENANT) == "u2"


def test_none_clears_any_field() -> None:
    for definition in FIELDS.values():
        assert coerce(definition.code, None, definition, TENANT) is None
    assert coerce("amount", None, None, TENANT) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1234.567", "1234.57"),
        (1000, "1000.00"),
        ("99.9", "99.90"),
        (Decimal("0.004"), "0.00"),
        (Decimal("92.592"), "92.59"),
    ],
)
def test_standard_amount_quantized_to_cents(raw: Any, expected: str) -> None:
    value = coerce("amount", raw, None, TENANT)
    assert isinstance(value, Decimal)
    assert str(value) == expected


def test_standard_amount_refuses_text() -> None:
    with pytest.raises(ActionError, match="field 'amount'"):
        coerce("amount", "a lot", None, TENANT)


def test_standard_text_fields() -> None:
    assert coerce("title", "New title", None, TENANT) == "New title"
    assert coerce("company", 42, None, TENANT) == "42"
    assert coerce("currency", "EUR", None, TENANT) == "EUR"


@pytest.mark.parametrize("name", ["contact", "nonexistent", "stage_id"])
def test_unknown_field_refused_naming_it(name: str) -> None:
    with pytest.raises(ActionError, match=f"field '{name}' is not a deal field this tenant defines"):
        coerce(name, "x", None, TENANT)


# --- the action context ---------------------------------------------------------------------------------------------

UMA = User(id="u1", name="Uma Sales", email="uma@example.com", role="sales_rep")
ULF = User(id="u2", name="Ulf Head", email="ulf@example.com", role="sales_manager")
TENANT = Tenant(
    id="t1",
    name="Example Ltd",
    users=[UMA, ULF],
    sender_email="crm@example.com",
    constants={"crm_url": "https://crm.example.com"},
)
SALES = Pipeline(
    id="sales",
    name="Sales",
    stages=[Stage(id="offer", name="Offer"), Stage(id="won", name="Closed won", semantic="won")],
)


class FakeDeals:
    """Applies a change in memory, as DealStore.apply would after reading the deal."""

    def __init__(self, deal: Deal) -> None:
        self.deal = deal
        self.keys: list[str] = []

    def apply(self, tenant_id: str, deal_id: str, change: Any, causation: Causation, key: str) -> tuple[Deal, bool]:
        self.keys.append(key)
        self.deal = change(self.deal).model_copy(update={"version": self.deal.version + 1, "caused_by": causation})
        return self.deal, True


def make_deal(**update: Any) -> Deal:
    data: dict[str, Any] = {
        "tenant_id": "t1",
        "id": "d-42",
        "pipeline_id": "sales",
        "stage_id": "won",
        "title": "Website redesign",
        "amount": Decimal("12500.00"),
        "currency": "EUR",
        "responsible_id": "u1",
        "company": "ACME",
        "contact": Contact(name="Ann Client", email="ann@client.example"),
        "fields": {"sells": "services"},
    }
    return Deal(**{**data, **update})


def context(deal: Deal | None = None, **variables: Any) -> ActionContext:
    deal = deal or make_deal()
    services = Services(
        automation=None,
        runs=None,
        deals=FakeDeals(deal),
        ledger=None,
        records=None,  # type: ignore[arg-type]
        mailer=None,
        notifier=None,
    )  # type: ignore[arg-type]
    return ActionContext(
        tenant=TENANT,
        pipelines={"sales": SALES},
        fields=FIELDS,
        deal=deal,
        effect_key="run-1:0",
        causation=Causation(run_id="run-1", automation_id="r1", depth=1),
        services=services,
        variables=variables,
    )


def test_responsible_users_and_contact() -> None:
    to = Recipients(responsible=True, users=["u2"], contact=True)
    assert context().email_addresses(to) == ["uma@example.com", "ulf@example.com", "ann@client.example"]


def test_responsible_comes_first_and_nobody_gets_it_twice() -> None:
    to = Recipients(responsible=True, users=["u2", "u1", "u2"])
    assert context().user_ids(to) == ["u1", "u2"]
    assert context().email_addresses(to) == ["uma@example.com", "ulf@example.com"]


def test_chosen_users_only() -> None:
    assert context().email_addresses(Recipients(users=["u2"])) == ["ulf@example.com"]
    assert context().user_ids(Recipients(users=["u2"])) == ["u2"]


def test_contact_only() -> None:
    assert context().email_addresses(Recipients(contact=True)) == ["ann@client.example"]


def test_unknown_user_named() -> None:
    with pytest.raises(ActionError, match="unknown user\\(s\\): ghost"):
        context().email_addresses(Recipients(users=["u2", "ghost"]))
    with pytest.raises(ActionError, match="ghost, nobody"):
        context().user_ids(Recipients(users=["ghost", "nobody"]))


def test_responsible_who_left_the_tenant_named() -> None:
    with pytest.raises(ActionError, match="unknown user\\(s\\): u9"):
        context(make_deal(responsible_id="u9")).email_addresses(Recipients(responsible=True))


def test_deal_without_responsible() -> None:
    with pytest.raises(ActionError, match="the deal has no responsible user"):
        context(make_deal(responsible_id=None)).email_addresses(Recipients(responsible=True, users=["u2"]))


@pytest.mark.parametrize("contact", [None, Contact(name="No Mail")])
def test_contact_without_email(contact: Contact | None) -> None:
    with pytest.raises(ActionError, match="the deal's contact has no e-mail address"):
        context(make_deal(contact=contact)).email_addresses(Recipients(contact=True))


def test_template_variables_give_names_not_ids() -> None:
    variables = context(commission_pct=Decimal("7.5")).template_variables()
    assert variables["deal"]["stage"] == "Closed won"
    assert variables["deal"]["pipeline"] == "Sales"
    assert variables["deal"]["responsible"]["name"] == "Uma Sales"
    assert variables["deal"]["sells"] == "services"  # custom fields beside standard ones
    assert variables["const"]["crm_url"] == "https://crm.example.com"
    assert variables["var"]["commission_pct"] == Decimal("7.5")
    assert variables["tenant"] == {"id": "t1", "name": "Example Ltd"}


# --- e-mails and notifications ---------------------------------------------------------------------------------------


def test_lost_deal_email_with_details_and_a_link() -> None:
    action = SendEmail(
        to=Recipients(users=["u2"], responsible=True),
        subject="  Deal lost: {{ deal.title }}\n",
        body=(
            "{{ deal.title }} ({{ deal.company }}) for {{ deal.amount }} {{ deal.currency }} is in stage "
            "{{ deal.stage }} of {{ deal.pipeline }}.\nOwner: {{ deal.responsible.name }}\n"
            "Open: {{ const.crm_url }}/deals/{{ deal.id }}\n"
        ),
    )
    email = render_email(action, context())
    assert email == {
        "to": ["uma@example.com", "ulf@example.com"],
        "subject": "Deal lost: Website redesign",
        "body": (
            "Website redesign (ACME) for 12500.00 EUR is in stage Closed won of Sales.\n"
            "Owner: Uma Sales\nOpen: https://crm.example.com/deals/d-42\n"
        ),
    }


def test_email_to_the_contact_addresses_them_by_name() -> None:
    action = SendEmail(
        to=Recipients(contact=True),
        subject="Thank you, {{ deal.contact.name }}",
        body="Dear {{ deal.contact.name }},\nthank you for choosing {{ tenant.name }}.",
    )
    email = render_email(action, context())
    assert email["to"] == ["ann@client.example"]
    assert email["subject"] == "Thank you, Ann Client"
    assert email["body"] == "Dear Ann Client,\nthank you for choosing Example Ltd."


def test_email_with_a_computed_commission() -> None:
    action = SendEmail(
        to=Recipients(responsible=True),
        subject="Commission",
        body="Your commission: {{ (deal.amount * var.commission_pct / 100)|round(2) }} {{ deal.currency }}",
    )
    email = render_email(action, context(commission_pct=Decimal("7.5")))
    assert email["body"] == "Your commission: 937.50 EUR"


def test_email_with_a_missing_custom_field_renders_it_empty() -> None:
    action = SendEmail(to=Recipients(responsible=True), subject="Deadline [{{ deal.deadline }}]", body="x")
    assert render_email(action, context())["subject"] == "Deadline []"


def test_email_recipients_checked_before_anything_is_rendered() -> None:
    action = SendEmail(to=Recipients(users=["ghost"]), subject="x", body="x")
    with pytest.raises(ActionError, match="ghost"):
        render_email(action, context())


def test_email_whose_template_fails_at_run_time_reports_a_template_error() -> None:
    action = SendEmail(to=Recipients(responsible=True), subject="x", body="{{ 'a' * 10000000 }}")
    with pytest.raises(TemplateError, match="too large"):
        render_email(action, context())


def test_won_deal_notification_for_the_head_of_sales() -> None:
    action = Notify(to=Recipients(users=["u2"]), message="Won: {{ deal.title }}, {{ deal.amount }} {{ deal.currency }}")
    assert render_notification(action, context()) == {"users": ["u2"], "message": "Won: Website redesign, 12500.00 EUR"}


# --- update fields (the "modify item" action) ------------------------------------------------------------------------


def test_commission_computed_into_a_number_field_exactly() -> None:
    ctx = context(commission_pct=Decimal("7.5"))
    action = UpdateFields.model_validate(
        {
            "values": {
                "budget": {"expression": "deal.amount * var.commission_pct / 100"},
                "signed": {"value": "yes"},
                "sells": {"value": "products"},
                "amount": {"value": "13000.499"},
            }
        }
    )
    result = update_fields(action, ctx)
    assert result == {
        "values": {"budget": "937.500", "signed": True, "sells": "products", "amount": "13000.50"},
        "duplicate": False,
    }
    assert ctx.deal.fields["budget"] == Decimal("937.5")
    assert ctx.deal.amount == Decimal("13000.50")
    assert ctx.deal.fields["sells"] == "products"
    assert ctx.services.deals.keys == ["run-1:0"]
    assert ctx.deal.caused_by == Causation(run_id="run-1", automation_id="r1", depth=1)


def test_update_with_a_bad_list_value_writes_nothing() -> None:
    ctx = context()
    action = UpdateFields.model_validate({"values": {"title": {"value": "T"}, "sells": {"value": "consulting"}}})
    with pytest.raises(ActionError, match="field 'sells'"):
        update_fields(action, ctx)
    assert ctx.services.deals.keys == []


def test_a_rule_writing_lots_into_a_number_field_fails_with_a_readable_reason() -> None:
    ctx = context()
    action = UpdateFields.model_validate({"values": {"budget": {"value": "lots"}}})
    with pytest.raises(ActionError) as exc:
        update_fields(action, ctx)
    assert str(exc.value) == "field 'budget': expected a number, got \"lots\""
    assert ctx.services.deals.keys == [] and "budget" not in ctx.deal.fields


@pytest.mark.parametrize(
    ("code", "value", "problem"),
    [
        ("signed", "maybe", 'expected true or false, got "maybe"'),
        ("accountant", "u-ghost", "no user 'u-ghost' in this tenant"),
        ("deadline", {"expression": "'next Friday'"}, 'expected a date (YYYY-MM-DD), got "next Friday"'),
    ],
)
def test_update_refuses_a_value_its_field_kind_cannot_hold(code: str, value: Any, problem: str) -> None:
    spec = value if isinstance(value, dict) else {"value": value}
    with pytest.raises(ActionError) as exc:
        update_fields(UpdateFields.model_validate({"values": {code: spec}}), context())
    assert str(exc.value) == f"field '{code}': {problem}"


def test_update_sets_a_user_field_to_a_user_of_the_tenant() -> None:
    ctx = context()
    update_fields(UpdateFields.model_validate({"values": {"accountant": {"value": "u2"}}}), ctx)
    assert ctx.deal.fields["accountant"] == "u2"


def test_update_responsible_to_an_unknown_user_refused() -> None:
    action = UpdateFields.model_validate({"values": {"responsible_id": {"value": "ghost"}}})
    with pytest.raises(ActionError, match="field 'responsible_id': unknown user 'ghost'"):
        update_fields(action, context())


def test_update_responsible_to_another_user() -> None:
    ctx = context()
    update_fields(UpdateFields.model_validate({"values": {"responsible_id": {"value": "u2"}}}), ctx)
    assert ctx.deal.responsible_id == "u2"


def test_update_can_clear_the_responsible_user() -> None:
    ctx = context()
    update_fields(UpdateFields.model_validate({"values": {"responsible_id": {"value": None}}}), ctx)
    assert ctx.deal.responsible_id is None


# --- a number written by automation stays a number once stored ----------------------------------------------------


def test_number_field_survives_being_stored() -> None:
    deal = make_deal(fields={"budget": coerce("budget", "1000", NUMBER, TENANT)})
    stored = Deal.model_validate(to_item(deal))
    assert stored.fields["budget"] == Decimal("1000") and isinstance(stored.fields["budget"], Decimal)
    predicate = compile_condition(Clause(field="budget", op="equals", value=1000))
    assert predicate(flat(stored), None, None) is True
