"""Templates no tenant can abuse: a corpus of hostile templates by attack class. Each one is either
refused when it is saved (a TemplateError, which the API answers as a 422 naming the field) or
stopped while it renders with a reason a person can read; either way the next render works."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from dealflow.language import budget, templates
from dealflow.language.templates import TemplateError, evaluate, render_text, validate_expression, validate_text

BIG = "y" * 99_999
VARS: dict[str, Any] = {
    "deal": {
        "title": "Website redesign",
        "amount": Decimal("12500.00"),
        "notes": "line\n" * 2_000,
        "tags": {"services", "audit", "design"},
        "contact": {"name": "Ann"},
    },
    "const": {"big": BIG, "n": 100_000, "w": 99_999, "nine": 10**9},
    "var": {"numbers": list(range(99_999))},
}
READABLE = re.compile(r"^(template|expression) (refused|stopped|failed|syntax error)\b.*: \S")

TRAVERSAL = [
    "{{ cycler.__init__.__globals__ }}",
    "{{ namespace.__init__ }}",
    "{{ joiner.__call__ }}",
    "{{ range.__self__ }}",
    "{{ dict.__base__.__subclasses__() }}",
    "{{ deal|attr('__class__') }}",
    "{{ deal|attr('_' ~ '_class_' ~ '_') }}",
    "{{ deal['__cla' ~ 'ss__'] }}",
    "{% set x = '__class__' %}{{ deal[x] }}",
    "{{ (deal.items()|list)[0].__class__ }}",
]
FORMAT_STRINGS = [
    "{{ '{0.__class__}'.format(deal) }}",
    "{{ '{0.__class__.__mro__}'.format('') }}",
    "{{ '{x.__init__.__globals__}'.format_map({'x': cycler}) }}",
    "{{ '{0:>100000000}'.format('x') }}",
    "{{ '%100000000s' % 'x' }}",
    "{{ '%(a)100000000s'|format(a='x') }}",
    "{% set f = '{0:' ~ '9' * 9 ~ '}' %}{{ f.format('x') }}",
    "{{ '%*s' % (const.nine, 'x') }}",
    "{{ '%-*s'|format(const.nine, 'x') }}",
    "{{ '{0:{1}}'.format('x', const.nine) }}",
    "{{ '{:>{}}'.format('x', '999999999') }}",
]
AMPLIFICATION = [
    # operators
    "{{ 'a' * 10**9 }}",
    "{{ const.big * 2 }}",
    "{{ [const.big] * 99999 }}",
    "{{ x ** (10 ** 7) }}",
    "{% set x = 10 ** 99 %}{{ x * x * x * x * x * x * x * x * x * x * x * x }}",
    "{% set ns = namespace(x=const.big) %}{% for i in range(30) %}{% set ns.x = ns.x + ns.x %}{% endfor %}",
    "{% set ns = namespace(x=[1]) %}{% for i in range(40) %}{% set ns.x = ns.x + ns.x %}{% endfor %}",
    "{% set ns = namespace(x='ab') %}{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
    "{{ const.big ~ const.big }}",
    "{{ '%s%s%s' % (const.big, const.big, const.big) }}",
    "{{ '%(a)s%(a)s' % {'a': const.big} }}",
    # filters
    "{{ var.numbers|join(const.big) }}",
    "{{ const.big|replace('', const.big) }}",
    "{{ const.big|replace('y', 'yy') }}",
    "{{ deal.notes|indent(const.w) }}",
    "{{ deal.notes|indent(const.big) }}",
    "{{ 'x'|center(10**9) }}",
    "{{ 'x'|center(const.nine) }}",
    "{{ const.big|wordwrap(1, wrapstring=const.big) }}",
    "{{ 'x'|truncate(const.nine) }}",
    "{{ '%s%s'|format(const.big, const.big) }}",
    "{{ [1, 2]|batch(const.nine, 0)|list }}",
    "{{ [var.numbers, var.numbers]|sum(start=[]) }}",
    "{{ ([var.numbers] * 1000)|select|sum(start=[]) }}",
    "{{ ([const.big] * 99)|string }}",
    "{{ ([const.big] * 99)|tojson }}",
    "{{ ([const.big] * 99)|pprint }}",
    "{{ (var.numbers[:1000])|tojson(indent=const.w) }}",
    "{{ ('a.co ' * 20000)|urlize(target=const.big) }}",
    "{% set ns = namespace(l=[]) %}{% for i in range(const.n) %}{% set ns.l = ns.l + [const.big ~ i] %}{% endfor %}",
    "{{ ([const.big] * 99)|join }}",
    "{{ var.numbers|map('string')|join(',') }}",
    "{{ (const.big|list)|join(const.big) }}",
    # methods
    "{{ 'x'.ljust(const.nine) }}",
    "{{ 'x'.rjust(10**9) }}",
    "{{ 'x'.zfill(const.nine) }}",
    "{{ 'x'.center(const.nine) }}",
    "{{ ('x\t' * 50000).expandtabs(const.w) }}",
    "{{ const.big.replace('y', const.big) }}",
    "{{ const.big.join(var.numbers|map('string')) }}",
    "{{ '{0}{0}{0}'.format(const.big) }}",
    "{{ const.big.translate({121: const.big}) }}",
]
ITERATION = [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(1000) %}{% for j in range(1000) %}{{ '' }}{% endfor %}{% endfor %}",
    "{% for i in range(const.n) %}{% for j in range(const.n) %}{% endfor %}{% endfor %}",
    "{% for i in var.numbers %}{% for j in var.numbers %}{% endfor %}{% endfor %}",
    "{% for i in range(const.n) %}{% endfor %}{% for i in range(const.n) %}{% endfor %}",
    "{% set s %}{% for i in range(const.n) %}{{ const.big }}{% endfor %}{% endset %}",
    "{% macro m() %}{% for i in range(const.n) %}{% endfor %}{% endmacro %}"
    "{% for i in range(5) %}{{ m() }}{% endfor %}",
    "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    "{{ [1]|slice(const.nine)|list|length }}",
    "{{ range(10**9)|list }}",
    "{% for i in range(10**9) %}{% endfor %}",
    "{% for x in var.numbers|map('string') %}{% for y in var.numbers %}{% endfor %}{% endfor %}",
]
DEEP = [
    "{{ " + "(" * 200 + "1" + ")" * 200 + " }}",
    "{{ " + "[" * 200 + "]" * 200 + " }}",
    "{{ " + "1 + " * 3000 + "1 }}",
    "{{ deal.title" + "|e" * 300 + " }}",
    "{% if 1 %}" * 60 + "x" + "{% endif %}" * 60,
    "{{ " + "-" * 5000 + "1 }}",
    "{{ " + "9" * 5000 + " }}",
]
CORPUS = [
    pytest.param(source, id=f"{kind}-{i}")
    for kind, sources in [
        ("traversal", TRAVERSAL),
        ("format", FORMAT_STRINGS),
        ("amplify", AMPLIFICATION),
        ("iterate", ITERATION),
        ("deep", DEEP),
    ]
    for i, source in enumerate(sources)
]


def _refused_or_stopped(source: str) -> str:
    """The reason a person reads: why it was refused at save, else why its render stopped."""
    try:
        validate_text(source)
    except TemplateError as refused:
        return str(refused)
    with pytest.raises(TemplateError) as stopped:
        render_text(source, VARS)
    return str(stopped.value)


@pytest.mark.parametrize("source", CORPUS)
def test_a_hostile_template_is_refused_at_save_or_stopped_with_a_readable_reason(source: str) -> None:
    reason = _refused_or_stopped(source)
    assert READABLE.match(reason), reason
    assert "Traceback" not in reason and "<class" not in reason and len(reason) < 300
    # The worker is fine for the next render.
    assert render_text("Deal {{ deal.title }}", VARS) == "Deal Website redesign"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ " + "(" * 200 + "1" + ")" * 200 + " }}", "nests too deeply"),
        ("{{ " + "1 + " * 3000 + "1 }}", "nests"),
        ("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", "would turn 1,000,000 times"),
        ("{{ range(10**9)|list }}", "a range may have at most 100,000 numbers"),
        ("{{ 'x'|center(10**9) }}", "widths are limited"),
        ("{{ 'x'.ljust(10**9) }}", "widths are limited"),
        ("{{ x ** (10 ** 7) }}", "exponent is limited to 100"),
        ("{{ 'a' * 10**9 }}", "repetition would produce a value that is too large"),
        ("{{ '" + "a" * 100_001 + "' }}", "characters is longer than"),
        ("{{ " + "9" * 5000 + " }}", "more digits than a template may hold"),
        ("{{ range(10)|random }}", "the filter 'random' is not available"),
        ("{{ lipsum(2) }}", "'lipsum' is not available"),
    ],
)
def test_what_the_text_already_shows_is_refused_at_save(source: str, reason: str) -> None:
    with pytest.raises(TemplateError, match=r"^template refused: ") as refused:
        validate_text(source)
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (
            "{% for i in range(const.n) %}{% for j in range(const.n) %}{% endfor %}{% endfor %}",
            "it took more than 100,000 steps",
        ),
        ("{% set s %}{% for i in range(99) %}{{ const.big }}{% endfor %}{% endset %}", "it wrote more than 1,000,000"),
        ("{{ const.big|replace('', const.big) }}", "a value of 9,999,999,999 characters exceeds the 100,000"),
        ("{{ deal.notes|indent(const.w) }}", "exceeds the 100,000"),
        ("{{ const.big ~ const.big }}", "a value of 199,998 characters exceeds"),
        ("{% set x = 10 ** 99 %}{{ x * x * x * x * x * x * x * x * x * x * x * x }}", "more than 1,000 digits"),
        ("{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}", "nests too deeply"),
        (
            "{% set ns = namespace(kept=[]) %}"
            "{% for i in range(1000) %}{% set ns.kept = ns.kept + [const.big[:50000] ~ i] %}{% endfor %}",
            "it built more than 10,000,000 characters and list items in all",
        ),
    ],
)
def test_a_render_past_its_budget_stops_naming_what_was_exceeded(source: str, reason: str) -> None:
    validate_text(source)  # nothing in the text shows it; the data decide
    with pytest.raises(TemplateError, match=r"^template stopped: ") as stopped:
        render_text(source, VARS)
    assert reason in str(stopped.value)


def test_loops_that_print_nothing_count_against_the_budget_across_the_whole_render() -> None:
    half = "{% for i in range(60000) %}{% endfor %}"
    assert render_text(half + "done", {}) == "done"
    with pytest.raises(TemplateError, match="it took more than 100,000 steps"):
        render_text(half + half + "done", {})


def test_a_render_slower_than_its_time_budget_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter(range(1_000_000))
    monkeypatch.setattr(budget.time, "monotonic", lambda: next(ticks) * 0.3)  # a slow machine, simulated
    with pytest.raises(TemplateError, match=r"^template stopped: it ran longer than 1 second\(s\)"):
        render_text("{% for i in range(10) %}{{ i }}{% endfor %}", {})


def test_each_render_has_a_budget_of_its_own() -> None:
    source = "{% for i in range(90000) %}{% endfor %}ok"
    for _ in range(3):
        assert render_text(source, {}) == "ok"
        assert evaluate("range(90000)|list|length", {}) == 90000


def test_an_expression_has_the_same_budget() -> None:
    with pytest.raises(TemplateError, match=r"^expression stopped: a value of 199,998 characters"):
        evaluate("const.big ~ const.big", VARS)
    with pytest.raises(TemplateError, match=r"^expression refused: exponent is limited"):
        validate_expression("x ** (10 ** 7)")


def test_running_out_of_memory_or_stack_reads_as_such() -> None:
    class Huge:
        def __str__(self) -> str:
            raise MemoryError

    with pytest.raises(TemplateError, match=r"^template stopped: it ran out of memory \(the template builds"):
        render_text("{{ x }}", {"x": Huge()})
    with pytest.raises(TemplateError, match=r"^template stopped: it nests too deeply"):
        render_text("{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}", {})
    assert render_text("{{ 1 + 1 }}", {}) == "2"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ deal.amount / 0 }}", "template failed: division by zero"),
        ("{{ deal.amount|round(999999999) }}", "template failed: a number is out of range or not a valid result"),
        ("{{ 1 / 0 }}", "template failed: division by zero"),
    ],
)
def test_a_failed_render_never_reports_an_empty_reason(source: str, reason: str) -> None:
    with pytest.raises(TemplateError) as failed:
        render_text(source, VARS)
    assert str(failed.value).startswith(reason)


def test_a_budget_outside_a_render_costs_nothing_and_leaks_nothing() -> None:
    assert not budget.active()
    render_text("{% for i in range(10) %}{% endfor %}", {})
    assert not budget.active()


# --- determinism -------------------------------------------------------------------------------------------


def test_nothing_random_is_offered_even_to_a_template_stored_before_the_check() -> None:
    with pytest.raises(TemplateError, match="the filter 'random' is not available"):
        render_text("{{ [1, 2, 3]|random }}", {})
    with pytest.raises(TemplateError, match="'lipsum' is not available"):
        render_text("{{ lipsum() }}", {})


def test_a_set_is_walked_in_the_same_order_whatever_the_hash_seed() -> None:
    assert render_text("{% for t in deal.tags %}{{ t }} {% endfor %}", VARS) == "audit design services "
    assert render_text("{{ deal.tags|join(', ') }}", VARS) == "audit, design, services"


# --- custom fields: one form ---------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["{{ deal.fields.what_we_sell }}", "{{ deal.fields['what_we_sell'] }}"])
def test_custom_fields_read_as_deal_fields_are_refused_with_the_right_form(source: str) -> None:
    with pytest.raises(TemplateError, match=r"write deal\.what_we_sell, not deal\.fields\.what_we_sell"):
        validate_text(source)
    with pytest.raises(TemplateError, match=r"write deal\.what_we_sell"):
        validate_expression(source.strip("{} "))


def test_custom_fields_walked_through_deal_fields_are_refused_with_the_right_form() -> None:
    with pytest.raises(
        TemplateError, match=r"custom fields sit beside the standard ones as deal\.<code> \(deal\.items"
    ):
        validate_text("{% for k, v in deal.fields.items() %}{{ k }}{% endfor %}")


def test_custom_fields_read_as_deal_code_render() -> None:
    assert render_text("{{ deal.what_we_sell }}", {"deal": {"what_we_sell": "services"}}) == "services"


# --- the output cap ------------------------------------------------------------------------------------------


def test_output_past_the_cap_fails_the_render_naming_the_cap() -> None:
    source = "{% for i in range(11) %}{{ const.big[:10000] }}{% endfor %}"
    with pytest.raises(TemplateError, match=r"^template stopped: the rendered text exceeds 100000 characters"):
        render_text(source, VARS)
    assert len(render_text("{% for i in range(10) %}{{ const.big[:10000] }}{% endfor %}", VARS)) == 100_000


# --- what a normal template does is unchanged ----------------------------------------------------------------


def test_ordinary_templates_are_untouched_by_the_budget() -> None:
    source = (
        "{% set ns = namespace(total=0) %}{% for n in [1, 2, 3] %}{% set ns.total = ns.total + n %}{% endfor %}"
        "{{ deal.title|upper }} {{ ns.total }} {{ deal.contact.name ~ '!' }} {{ '%-6s|' % 'ab' }}"
        "{{ 'a-b'.replace('-', '+') }} {{ ['x', 'y']|join('/') }} {{ deal.amount|money }}"
    )
    assert templates.render_text(source, VARS) == "WEBSITE REDESIGN 6 Ann! ab    |a+b x/y 12500.00"
