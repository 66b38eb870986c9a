"""Message texts and computed values: what a user sees in e-mails, and what a template may never do."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from dealflow.authoring.checks import AUTOMATION, check_automation
from dealflow.engine.actions.deals import coerce
from dealflow.engine.compiled import AutomationIndex, TenantAutomation
from dealflow.http_errors import Invalid, problems_from
from dealflow.language import templates
from dealflow.language.templates import (
    ALL_CUSTOM_FIELDS,
    MAX_OUTPUT_CHARS,
    WHOLE_DEAL,
    TemplateError,
    evaluate,
    names_read,
    render_text,
    validate_expression,
)
from dealflow.model import Pipeline, Stage, Tenant, TypedValue, User

VARS: dict[str, Any] = {
    "deal": {
        "id": "d-42",
        "title": "Website redesign",
        "amount": Decimal("12500.00"),
        "currency": "EUR",
        "company": "ACME",
        "contact": {"name": "Ann", "email": "ann@example.com"},
        "sells": ["services", "products"],
        "stage": "Won",
    },
    "const": {"crm_url": "https://crm.example.com", "vat": Decimal("23")},
    "var": {"commission_pct": Decimal("7.5")},
    "tenant": {"id": "t1", "name": "Example Ltd"},
}


# --- rendering -----------------------------------------------------------------------------------------


def test_renders_deal_fields() -> None:
    text = "Deal {{ deal.title }} ({{ deal.company }}) closed at {{ deal.amount }} {{ deal.currency }}"
    assert render_text(text, VARS) == "Deal Website redesign (ACME) closed at 12500.00 EUR"


def test_renders_nested_and_list_fields() -> None:
    assert render_text("{{ deal.contact.name }} <{{ deal.contact.email }}>", VARS) == "Ann <ann@example.com>"
    assert render_text("{{ deal.sells|join(', ') }}", VARS) == "services, products"
    assert render_text("{% for s in deal.sells %}[{{ s }}]{% endfor %}", VARS) == "[services][products]"


def test_renders_a_direct_link_from_a_constant() -> None:
    assert render_text("{{ const.crm_url }}/deals/{{ deal.id }}", VARS) == "https://crm.example.com/deals/d-42"


def test_plain_text_and_no_html_escaping() -> None:
    assert render_text("Hello", {}) == "Hello"
    assert render_text("{{ x }}", {"x": "<b>Tom & Jerry</b>"}) == "<b>Tom & Jerry</b>"


def test_keeps_trailing_newline() -> None:
    assert render_text("line\n", {}) == "line\n"


def test_conditionals_in_text() -> None:
    text = "{% if deal.amount > 10000 %}big{% else %}small{% endif %}"
    assert render_text(text, VARS) == "big"
    assert render_text(text, {"deal": {"amount": Decimal("10")}}) == "small"


# --- money stays exact ----------------------------------------------------------------------------------


def test_commission_computed_exactly_as_decimal() -> None:
    value = evaluate("deal.amount * var.commission_pct / 100", VARS)
    assert isinstance(value, Decimal)
    assert value == Decimal("937.5")


def test_decimal_arithmetic_has_no_float_error() -> None:
    variables = {"deal": {"amount": Decimal("0.10")}, "var": {"commission_pct": Decimal("30")}}
    value = evaluate("deal.amount * var.commission_pct / 100", variables)
    assert isinstance(value, Decimal) and value == Decimal("0.03")  # float would give 0.030000000000000002
    assert evaluate("a + b", {"a": Decimal("0.1"), "b": Decimal("0.2")}) == Decimal("0.3")


def test_rendered_commission_shows_exact_cents() -> None:
    variables = {"deal": {"amount": Decimal("1234.56")}, "var": {"commission_pct": Decimal("7.5")}}
    assert render_text("{{ deal.amount * var.commission_pct / 100 }}", variables) == "92.592"
    assert render_text("{{ (deal.amount * var.commission_pct / 100)|round(2) }}", variables) == "92.59"


def test_expression_returns_typed_values() -> None:
    assert evaluate("deal.title", VARS) == "Website redesign"
    assert evaluate("deal.amount > 10000", VARS) is True
    assert evaluate("deal.missing", VARS) is None


# --- missing fields -------------------------------------------------------------------------------------


def test_missing_fields_render_empty() -> None:
    assert render_text("[{{ deal.deadline }}]", VARS) == "[]"
    assert render_text("[{{ deal.nothing.deeper.still }}]", VARS) == "[]"
    assert render_text("[{{ nobody }}]", {}) == "[]"
    assert render_text("[{{ deal.contact.name }}]", {"deal": {"contact": None}}) == "[]"
    assert render_text("[{{ deal.responsible.name }}]", {"deal": {"responsible": {}}}) == "[]"


def test_unset_standard_field_renders_empty_not_none() -> None:
    # a deal without an amount or company must not say "Amount: None" in an e-mail
    assert render_text("Amount: {{ deal.amount }}", {"deal": {"amount": None}}) == "Amount: "
    assert render_text("[{{ deal.company }}]", {"deal": {"company": None}}) == "[]"


# --- the sandbox ----------------------------------------------------------------------------------------

INTERNALS = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ deal['__class__'] }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ self.__init__ }}",
    "{{ lipsum.__globals__ }}",
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% endfor %}",
    "{{ deal._secret }}",
]


@pytest.mark.parametrize("source", INTERNALS)
def test_internals_refused_when_saved(source: str) -> None:
    with pytest.raises(TemplateError, match=r"template refused: '_\w*' reaches Python internals"):
        templates.validate_text(source)


@pytest.mark.parametrize("source", INTERNALS)
def test_internals_refused_when_rendered(source: str) -> None:
    with pytest.raises(TemplateError, match="template refused"):
        render_text(source, VARS)


@pytest.mark.parametrize("source", ["deal.__class__", "deal['__class__']", "lipsum.__globals__"])
def test_internals_refused_in_expressions(source: str) -> None:
    with pytest.raises(TemplateError, match="reaches Python internals"):
        validate_expression(source)
    with pytest.raises(TemplateError, match="reaches Python internals"):
        evaluate(source, VARS)


ATTR_FILTER = [
    "{{ x|attr('__class__') }}",
    "{{ deal|attr('__init__') }}",
    "{% if x|attr('__class__') %}leak{% endif %}",
]


@pytest.mark.parametrize("source", ATTR_FILTER)
def test_attr_filter_refused_when_rendered(source: str) -> None:
    with pytest.raises(TemplateError, match=r"template refused: .*'__\w+__'"):
        render_text(source, {**VARS, "x": "s"})


@pytest.mark.parametrize("source", ATTR_FILTER)
def test_attr_filter_refused_when_saved(source: str) -> None:
    with pytest.raises(TemplateError, match="reaches Python internals"):
        templates.validate_text(source)


def test_attr_filter_with_a_computed_name_never_reaches_internals() -> None:
    # a name built at run time cannot be checked when saved; the sandbox must still refuse it
    with pytest.raises(TemplateError, match="template refused"):
        render_text("{{ x|attr('_' ~ '_class_' ~ '_') }}", {"x": "s"})


@pytest.mark.parametrize(
    "source", ["{{ 'a' * 10000000 }}", "{{ 10000000 * 'a' }}", "{{ [1, 2] * 1000000 }}", "{{ ('ab' * 1000) * 1000 }}"]
)
def test_huge_repetition_refused(source: str) -> None:
    with pytest.raises(TemplateError, match="template refused: repetition would produce a value that is too large"):
        render_text(source, {})


def test_huge_repetition_refused_in_expressions() -> None:
    with pytest.raises(TemplateError, match="expression refused: repetition"):
        evaluate("deal.title * 10000000", VARS)


def test_small_repetition_allowed() -> None:
    assert render_text("{{ '-' * 20 }}", {}) == "-" * 20
    assert evaluate("3 * 4", {}) == 12


@pytest.mark.parametrize("source", ["{{ 2 ** 1000 }}", "{{ 10 ** 101 }}", "{{ 2 ** -1000 }}"])
def test_huge_power_refused(source: str) -> None:
    with pytest.raises(TemplateError, match="template refused: exponent is limited to 100"):
        render_text(source, {})


def test_huge_power_refused_in_expressions() -> None:
    with pytest.raises(TemplateError, match="expression refused: exponent is limited to 100"):
        evaluate("deal.amount ** 1000", VARS)


def test_small_power_allowed() -> None:
    assert render_text("{{ 2 ** 10 }}", {}) == "1024"


def test_a_power_of_money_is_computed_and_still_capped() -> None:
    # Money is Decimal: the guard once multiplied it by a float and failed every such template.
    assert evaluate("2 ** deal.amount", {"deal": {"amount": Decimal("3")}}) == Decimal("8")
    assert evaluate("deal.amount ** 0.5", {"deal": {"amount": Decimal("16")}}) == Decimal("4")
    with pytest.raises(TemplateError, match="the power would produce a number that is too large"):
        evaluate("deal.amount ** 99", {"deal": {"amount": Decimal("1e40")}})


@pytest.mark.parametrize(
    "source", ["((2 ** 100) ** 100) ** 100", "(((10 ** 100) ** 100) ** 100) ** 100", "(9 ** 99) ** 99"]
)
def test_chained_powers_refused(source: str) -> None:
    # the exponent cap alone lets chained powers grow without bound (four levels ran ~400 s before the fix)
    with pytest.raises(TemplateError, match="expression refused"):
        evaluate(source, {})
    with pytest.raises(TemplateError, match="template refused"):
        render_text("{{ " + source + " }}", {})


@pytest.mark.parametrize(
    "source",
    [
        "'x'.ljust(10 ** 7)",
        "'x'.rjust(10000000)",
        "'x'.zfill(10000000)",
        "'%10000000s' % 'x'",
        "'x'|center(10000000)",
        "'x'|indent(10000000)",
    ],
)
def test_padding_to_a_huge_width_refused(source: str) -> None:
    # the same 10 MB string that 'x' * 10000000 is refused for
    with pytest.raises(TemplateError, match="expression refused: widths are limited"):
        evaluate(source, {})


def test_padding_to_a_normal_width_allowed() -> None:
    source = "[{{ 'ab'.ljust(5) }}][{{ '%5s' % 'ab' }}][{{ 'ab'|center(6) }}]"
    assert render_text(source, {}) == "[ab   ][   ab][  ab  ]"


@pytest.mark.parametrize("source", ["'{:>10000000}'.format('x')", "'{:10000000}'.format('x')"])
def test_format_to_a_huge_width_refused(source: str) -> None:
    with pytest.raises(TemplateError):
        evaluate(source, {})


# --- automation holding such a template is refused when saved ------------------------------------------------


def _known() -> TenantAutomation:
    """A tenant with one user, one constant and one pipeline, as the save-time check sees it."""
    tenant = Tenant(
        id="t1",
        name="Example",
        users=[User(id="u1", name="Uma", email="uma@example.com")],
        constants={"crm_url": TypedValue(type="text", value="https://crm.example.com")},
    )
    sales = Pipeline(id="sales", name="Sales", stages=[Stage(id="new", name="New"), Stage(id="won", name="Won")])
    return TenantAutomation(tenant=tenant, pipelines={"sales": sales}, fields={}, index=AutomationIndex([]), version=1)


def _refused(automation: Any) -> dict[str, str]:
    """The problems ``check_automation`` names, by field, when ``automation`` is saved."""
    with pytest.raises(Invalid) as exc:
        check_automation(AUTOMATION.validate_python(automation), _known())
    return {p["field"]: p["problem"] for p in exc.value.problems}


def _rule(action: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "rule",
        "id": "r1",
        "name": "Mail on win",
        "pipeline_id": "sales",
        "stage_id": "won",
        "actions": [action],
    }


def _email(subject: str = "Won: {{ deal.title }}", body: str = "Well done") -> dict[str, Any]:
    return {"kind": "send_email", "to": {"responsible": True}, "subject": subject, "body": body}


@pytest.mark.parametrize("source", INTERNALS)
@pytest.mark.parametrize("part", ["subject", "body"])
def test_rule_with_unsafe_email_template_refused_when_saved(source: str, part: str) -> None:
    problems = _refused(_rule(_email(**{part: source})))
    assert list(problems) == [f"actions.0.{part}"]
    assert "reaches Python internals" in problems[f"actions.0.{part}"]


@pytest.mark.parametrize(
    ("action", "field"),
    [
        ({"kind": "notify", "to": {"users": ["u1"]}, "message": "{{ ''.__class__ }}"}, "actions.0.message"),
        ({"kind": "create_task", "title": "{{ self.__init__ }}"}, "actions.0.title"),
        ({"kind": "create_task", "title": "Call", "description": "{{ deal._x }}"}, "actions.0.description"),
        ({"kind": "create_workgroup", "name": "{{ lipsum.__globals__ }}"}, "actions.0.name"),
        (
            {"kind": "update_fields", "values": {"amount": {"expression": "deal.__class__"}}},
            "actions.0.values.amount.expression",
        ),
    ],
)
def test_rule_with_unsafe_template_in_other_actions_refused(action: dict[str, Any], field: str) -> None:
    problems = _refused(_rule(action))
    # Only the template is named: what a refused template reads is not reported as a missing field.
    assert list(problems) == [field]
    assert "reaches Python internals" in problems[field]


def test_rule_with_syntax_error_in_template_refused() -> None:
    problems = _refused(_rule(_email(body="Hi\n{{ deal.title ")))
    assert list(problems) == ["actions.0.body"]
    assert "template syntax error on line 2" in problems["actions.0.body"]


def test_template_problems_come_with_the_other_problems_of_the_automation() -> None:
    rule = _rule({"kind": "notify", "to": {"users": ["u-ghost"]}, "message": "{% if %}"})
    problems = _refused({**rule, "stage_id": "nowhere"})
    assert set(problems) == {"actions.0.message", "actions.0.to.users.0", "stage_id"}
    assert "template syntax error" in problems["actions.0.message"]


def test_business_process_templates_are_named_where_they_stand() -> None:
    notify = {"kind": "notify", "to": {"users": ["u1"]}, "message": "ok"}
    process = {
        "kind": "business_process",
        "id": "p1",
        "name": "Outcome",
        "start_on": ["manual"],
        "nodes": [
            {
                "kind": "condition",
                "branches": [
                    {
                        "name": "big",
                        "condition": {"field": "amount", "op": "gt", "value": 1},
                        "nodes": [
                            {"kind": "action", "action": notify},
                            {"kind": "action", "action": _email(body="{{ ''.__class__ }}")},
                        ],
                    }
                ],
                "otherwise": [{"kind": "action", "action": {**notify, "message": "{{ deal.title "}}],
            },
            {"kind": "set_variable", "variable": "v", "expression": "deal.__class__"},
            {
                "kind": "loop",
                "while": {"field": "amount", "op": "gt", "value": 1},
                "nodes": [{"kind": "set_variable", "variable": "w", "expression": "1 +"}],
            },
        ],
    }
    problems = _refused(process)
    assert list(problems) == [
        "nodes.0.branches.0.nodes.1.action.body",
        "nodes.0.otherwise.0.action.message",
        "nodes.1.expression",
        "nodes.2.nodes.0.expression",
    ]
    assert "reaches Python internals" in problems["nodes.1.expression"]
    assert "syntax error" in problems["nodes.2.nodes.0.expression"]


def test_automation_with_safe_templates_is_saved() -> None:
    rule = AUTOMATION.validate_python(_rule(_email(body="{{ const.crm_url }}/deals/{{ deal.id }}")))
    check_automation(rule, _known())  # nothing to refuse
    assert rule.actions[0].body == "{{ const.crm_url }}/deals/{{ deal.id }}"


def test_an_invalid_body_names_its_template_problems_too() -> None:
    body = _rule({"kind": "send_email", "to": {}, "subject": "s", "body": "{{ ''.__class__ }}"})
    with pytest.raises(ValidationError) as exc:
        AUTOMATION.validate_python(body)
    problems = {p["field"]: p["problem"] for p in problems_from(exc.value)}
    assert set(problems) == {"actions.0.to", "actions.0.body"}
    assert "reaches Python internals" in problems["actions.0.body"]


# --- which fields and constants a template reads ------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expression", "read"),
    [
        ("{{ deal.title }} for {{ deal['amount'] }}", False, [("field", "title"), ("field", "amount")]),
        ("{{ deal.fields.sells }} {{ deal.fields['region'] }}", False, [("field", "sells"), ("field", "region")]),
        ("{{ deal.stage }} / {{ deal.responsible.name }}", False, [("field", "stage_id"), ("field", "responsible_id")]),
        ("{{ deal }}", False, [("field", WHOLE_DEAL)]),
        ("{% for k, v in deal.items() %}{{ v }}{% endfor %}", False, [("field", WHOLE_DEAL)]),
        ("{{ deal.fields }}", False, [("field", ALL_CUSTOM_FIELDS)]),
        ("{{ const.crm_url }}/{{ deal.id }}", False, [("constant", "crm_url"), ("field", "id")]),
        ("deal.amount * var.pct / 100 + const.bonus", True, [("field", "amount"), ("constant", "bonus")]),
        ("{{ deal.title }}{{ deal.title }}", False, [("field", "title")]),
        ("{{ deal.title ", False, []),
        ("", False, []),
    ],
)
def test_names_a_template_reads(source: str, expression: bool, read: list[tuple[str, str]]) -> None:
    assert names_read(source, expression) == read


# --- output cap and syntax errors ---------------------------------------------------------------------------


def test_output_at_the_cap_is_allowed() -> None:
    source = "{% for i in range(" + str(MAX_OUTPUT_CHARS // 100) + ") %}{{ 'x' * 100 }}{% endfor %}"
    assert len(render_text(source, {})) == MAX_OUTPUT_CHARS


def test_output_over_the_cap_fails() -> None:
    source = "{% for i in range(" + str(MAX_OUTPUT_CHARS // 100 + 1) + ") %}{{ 'x' * 100 }}{% endfor %}"
    with pytest.raises(TemplateError, match=f"rendered text exceeds {MAX_OUTPUT_CHARS} characters"):
        render_text(source, {})


def test_output_over_the_cap_from_a_variable_fails() -> None:
    with pytest.raises(TemplateError, match="exceeds"):
        render_text("{{ big }}", {"big": "y" * (MAX_OUTPUT_CHARS + 1)})


def test_syntax_error_reports_the_line() -> None:
    with pytest.raises(TemplateError, match="template syntax error on line 3"):
        templates.validate_text("Hello\n{{ deal.title }}\n{% if deal.amount %}")
    with pytest.raises(TemplateError, match="template syntax error on line 1"):
        render_text("{{ deal.title ", {})


def test_expression_syntax_error() -> None:
    with pytest.raises(TemplateError, match="syntax error"):
        validate_expression("deal.amount +")


def test_runtime_error_is_reported_as_the_authors() -> None:
    with pytest.raises(TemplateError, match="template failed"):
        render_text("{{ 1 / 0 }}", {})
    with pytest.raises(TemplateError, match="expression failed"):
        evaluate("deal.title / 2", VARS)


# --- money: one rounding rule, stored and shown --------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "cents"),
    [("9.045", "9.05"), ("9.044", "9.04"), ("2.675", "2.68"), ("0.005", "0.01"), ("-9.045", "-9.05"), ("7", "7.00")],
)
def test_money_is_rounded_half_up_alike_when_stored_and_when_shown(amount: str, cents: str) -> None:
    assert str(coerce("amount", Decimal(amount), None, _known().tenant)) == cents  # what update_fields stores
    assert render_text("{{ x | money }}", {"x": Decimal(amount)}) == cents  # what a message shows
    assert render_text("{{ x | round(2) }}", {"x": Decimal(amount)}) == cents
