"""The Jinja2 environment templates run in: immutable, budgeted, deterministic.

Immutable: a template reads the deal, constants and variables and changes nothing. Budgeted: the
code Jinja2 generates is rewritten before it is compiled so that every loop turn, every piece of
text written and every ``~`` goes through ``dealflow.language.budget``, and every operator, filter
and method call is checked against the same budget (``dealflow.language.amplifiers`` for the ones
that amplify). Deterministic: a run replays its steps after a wait and must decide the same way, so
nothing random is offered (``random``, ``lipsum``).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterator, Sized
from decimal import Decimal
from typing import Any, cast

from jinja2 import ChainableUndefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

from dealflow.language import amplifiers, budget
from dealflow.language.money import round_money

MAX_SEQUENCE_PRODUCT = budget.MAX_VALUE_CHARS
MAX_POWER_EXPONENT = 100
# Offered by Jinja2, refused here: a run replayed after a wait would pick differently.
NONDETERMINISTIC_FILTERS = frozenset({"random"})
NONDETERMINISTIC_GLOBALS = frozenset({"lipsum"})


class Undefined(ChainableUndefined):
    """A missing field renders empty (deals often lack optional fields), but an unsafe access
    never does: it fails loudly instead of printing nothing."""

    def __str__(self) -> str:
        if self._undefined_exception is SecurityError:
            self._fail_with_undefined_error()
        return ""


def _exact(left: Any, right: Any) -> tuple[Any, Any]:
    """Money is Decimal; a literal such as ``0.9`` in an expression is a float. Mixing them is a
    TypeError in Python, so the float is read back as the decimal its author wrote."""
    if isinstance(left, Decimal) and isinstance(right, float):
        return left, Decimal(repr(right))
    if isinstance(right, Decimal) and isinstance(left, float):
        return Decimal(repr(left)), right
    return left, right


def _magnitude(value: int | float | Decimal) -> float:
    """``abs(value)`` as a float, so a Decimal (money) compares and multiplies with floats; an
    integer past float's range is infinite."""
    try:
        return abs(float(value))
    except OverflowError:
        return math.inf


def _check_power(base: Any, exponent: Any) -> None:
    if not isinstance(exponent, int | float | Decimal) or not isinstance(base, int | float | Decimal):
        return
    size = _magnitude(exponent)
    if size > MAX_POWER_EXPONENT:
        raise SecurityError(f"exponent is limited to {MAX_POWER_EXPONENT}")
    # Chained powers stay small: the result may have at most ~1000 digits.
    base_size = _magnitude(base)
    if base and size * math.log10(base_size if base_size < 1e300 else 300) > budget.MAX_DIGITS:
        raise SecurityError("the power would produce a number that is too large")


def _check_repetition(left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * times > MAX_SEQUENCE_PRODUCT:
            raise SecurityError("repetition would produce a value that is too large")


def _check_sum(left: Any, right: Any) -> None:
    if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        budget.check_length(len(left) + len(right))


def _check_printf(template: Any, args: Any) -> None:
    if isinstance(template, str):
        budget.check_length(amplifiers.formatted_size(template, template.count("%"), args))


_BEFORE: dict[str, Callable[[Any, Any], None]] = {
    "*": _check_repetition,
    "**": _check_power,
    "+": _check_sum,
    "%": _check_printf,
}
_OWN_HELPERS = (budget.turns, budget.concat, budget.emit)


class _Budgeted(NodeTransformer):
    """Rewrites a parsed template so that the generated code reports to the budget: loops count their
    turns, ``~`` sizes its parts first, and everything written (literal text and ``{{ ... }}``
    alike) is counted, also inside set blocks, macros and filter blocks."""

    @staticmethod
    def _call(helper: str, *args: nodes.Expr, lineno: int) -> nodes.Call:
        return nodes.Call(
            nodes.ImportedName(f"dealflow.language.budget.{helper}", lineno=lineno),
            list(args),
            [],
            None,
            None,
            lineno=lineno,
        )

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._call("turns", cast(nodes.Expr, node.iter), lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._call("concat", *node.nodes, lineno=node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [
            self._call(
                "emit",
                nodes.Const(child.data, lineno=child.lineno) if isinstance(child, nodes.TemplateData) else child,
                lineno=child.lineno,
            )
            for child in node.nodes
        ]
        return node


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def _generate(self, source: nodes.Template, name: Any, filename: Any, defer_init: bool = False) -> str:
        return super()._generate(_Budgeted().visit(source), name, filename, defer_init)

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        left, right = _exact(left, right)
        check = _BEFORE.get(op)
        if check is not None:
            check(left, right)
        return budget.bounded(self.binop_table[op](left, right))

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if any(__obj is helper for helper in _OWN_HELPERS):
            return __obj(*args)  # Jinja adds _loop_vars and _block_vars, for macros
        budget.step()
        # The sandbox hands out str.format wrapped (its own formatter); the string is the wrapped one's.
        method = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(method, "__self__", None)
        if owner.__class__ is str:
            args = amplifiers.before_method(owner, getattr(method, "__name__", ""), args, kwargs)
        return budget.bounded(super().call(__context, __obj, *args, **kwargs))


# Filters that look at a value without walking through its items.
_AT_A_GLANCE = frozenset({"length", "count", "first", "default", "d", "attr", "string", "tojson", "pprint"})


def _items(name: str, value: Any) -> int:
    """How many items a filter walks through (a string is one value, not many)."""
    walks = name not in _AT_A_GLANCE and isinstance(value, Sized) and not isinstance(value, str)
    return len(value) if walks else 0


def _budgeted_filter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """``original`` counted and size-checked: one step plus one per item of its input, its input's
    size checked before an amplifying filter runs, its result after."""
    try:
        signature: inspect.Signature | None = inspect.signature(original)
    except (TypeError, ValueError):
        signature = None
    lead = 1 if getattr(original, "jinja_pass_arg", None) is not None else 0
    names = list(signature.parameters) if signature is not None else []
    if len(names) <= lead:  # a C function without a usable signature: only its value is checked
        signature = None
    value_key = names[lead] if signature is not None else ""

    @functools.wraps(original)
    def run(*args: Any, **kwargs: Any) -> Any:
        if not budget.active():
            # Jinja2 computes a filter of constants while compiling; outside a budget, it is left
            # for the render (Jinja2 takes any exception here to mean "not a constant").
            raise budget.BudgetExceeded("filters run only inside a render")
        value = args[lead] if len(args) > lead else kwargs.get(value_key)
        budget.step(1 + _items(name, value))
        if isinstance(value, set | frozenset):  # its own order changes with the hash seed
            args = (*args[:lead], sorted(value, key=str), *args[lead + 1 :])
        elif isinstance(value, Iterator):
            args = (*args[:lead], budget.turns(value), *args[lead + 1 :])
        if signature is None:
            budget.check_text(value)
            return budget.bounded(original(*args, **kwargs))
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        amplifiers.before_filter(name, bound.arguments, value_key)
        return budget.bounded(original(*bound.args, **bound.kwargs))

    return run


def _round(value: Any, precision: int = 0, method: str = "common") -> Any:
    """Jinja's ``round`` turns money into a float; this one keeps a Decimal a Decimal and rounds it
    as stored money is rounded."""
    if isinstance(value, Decimal):
        return round_money(value, precision, method)
    return _JINJA_ROUND(value, precision, method)


def money(value: Any, places: int = 2) -> Any:
    """``{{ deal.commission | money }}``: a number rounded to cents (or ``places``) by the one rule
    stored money follows (``dealflow.language.money``)."""
    if value is None or value == "":
        return ""
    try:
        return round_money(Decimal(str(value)), places)
    except ArithmeticError:
        return value


ENV = _Environment(undefined=Undefined, autoescape=False, keep_trailing_newline=True)
_JINJA_ROUND = ENV.filters["round"]
for _name in NONDETERMINISTIC_FILTERS:
    del ENV.filters[_name]
for _name in NONDETERMINISTIC_GLOBALS:
    del ENV.globals[_name]
ENV.filters.update({"money": money, "round": _round})
ENV.filters.update({name: _budgeted_filter(name, original) for name, original in ENV.filters.items()})
