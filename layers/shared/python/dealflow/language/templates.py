"""Message texts and computed values: Jinja2 in an immutable sandbox, compiled once, capped.

Authors of automation are tenant administrators, not the operators of the engine, so a template
is untrusted code: it may read the deal, constants and variables it is given, and nothing else.
Attempts to reach Python internals are refused when the template is saved (a static check) and
again when it runs (the sandbox).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Literal

from jinja2 import ChainableUndefined, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

MAX_OUTPUT_CHARS = 100_000
WHOLE_DEAL = "*"  # a template that reads the deal as a whole (``{{ deal }}``, ``deal.items()``)
ALL_CUSTOM_FIELDS = "fields.*"  # … or all its custom fields (``deal.fields``)
# What templates see on ``deal`` besides the stored fields (see ActionContext.template_variables).
_DERIVED = {"stage": "stage_id", "pipeline": "pipeline_id", "responsible": "responsible_id"}
_WHOLE_READS = frozenset({"get", "items", "values", "keys"})
MAX_SEQUENCE_PRODUCT = 100_000
MAX_POWER_EXPONENT = 100


class TemplateError(ValueError):
    """A template that cannot be saved or rendered; the message says why, for a person."""


class _Undefined(ChainableUndefined):
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


_WIDTH = re.compile(r"(\d+)")
_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs", "format", "format_map"})


def _check_widths(*values: Any) -> None:
    """Refuse padding and format widths that would build huge strings (``'x'.ljust(10**9)``)."""
    for value in values:
        numbers = (
            [value]
            if isinstance(value, int) and not isinstance(value, bool)
            else ([int(n) for n in _WIDTH.findall(value)] if isinstance(value, str) else [])
        )
        if any(n > MAX_SEQUENCE_PRODUCT for n in numbers):
            raise SecurityError(f"widths are limited to {MAX_SEQUENCE_PRODUCT} characters")


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
    if base and size * math.log10(base_size if base_size < 1e300 else 300) > 1000:
        raise SecurityError("the power would produce a number that is too large")


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        left, right = _exact(left, right)
        if op == "*":
            for seq, times in ((left, right), (right, left)):
                too_long = (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and (len(seq) * times > MAX_SEQUENCE_PRODUCT)
                )
                if too_long:
                    raise SecurityError("repetition would produce a value that is too large")
        elif op == "**":
            _check_power(left, right)
        elif op == "%" and isinstance(left, str):
            _check_widths(left)
        return self.binop_table[op](left, right)

    def wrap_str_format(self, value: Any) -> Any:
        if isinstance(getattr(value, "__self__", None), str):
            _check_widths(value.__self__)
        return super().wrap_str_format(value)

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(__obj, "__self__", None).__class__ is str and getattr(__obj, "__name__", "") in _PADDING_METHODS:
            _check_widths(__obj.__self__ if __obj.__name__.startswith("format") else 0, *args, *kwargs.values())
        return super().call(__context, __obj, *args, **kwargs)


def _capped_filter(name: str) -> Any:
    original = ImmutableSandboxedEnvironment().filters[name]

    def capped(value: Any, width: Any = 80, *args: Any, **kwargs: Any) -> Any:
        _check_widths(width)
        return original(value, width, *args, **kwargs)

    return capped


def money(value: Any, places: int = 2) -> Any:
    """``{{ deal.commission | money }}``: a number rounded half-up to cents (or ``places``)."""
    if value is None or value == "":
        return ""
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return value
    return number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _round(value: Any, precision: int = 0, method: str = "common") -> Any:
    """Jinja's ``round`` turns money into a float; this one keeps a Decimal a Decimal."""
    if isinstance(value, Decimal):
        modes = {"common": ROUND_HALF_UP, "ceil": ROUND_CEILING, "floor": ROUND_FLOOR}
        return value.quantize(Decimal(1).scaleb(-precision), rounding=modes.get(method, ROUND_HALF_UP))
    return _JINJA_ROUND(value, precision, method)


def _finalize(value: Any) -> Any:
    """A field that is not set prints as nothing, not as "None"."""
    return "" if value is None else value


_ENV = _Environment(undefined=_Undefined, autoescape=False, keep_trailing_newline=True, finalize=_finalize)
_JINJA_ROUND = _ENV.filters["round"]
_ENV.filters.update({name: _capped_filter(name) for name in ("center", "indent", "wordwrap", "truncate")})
_ENV.filters.update({"money": money, "round": _round})


def _refuse_private_names(tree: nodes.Node) -> None:
    for const in tree.find_all(nodes.Const):
        if isinstance(const.value, str) and const.value.startswith("__"):
            raise TemplateError(
                f"template refused: '{const.value}' reaches Python internals; templates may only use "
                "deal fields, constants and variables"
            )
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Name):
            name = node.name
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            name = node.arg.value
        else:
            continue
        if name.startswith("_"):
            raise TemplateError(
                f"template refused: '{name}' reaches Python internals; templates may only use "
                "deal fields, constants and variables"
            )


def _parse(source: str) -> nodes.Template:
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error on line {exc.lineno}: {exc.message}") from exc
    _refuse_private_names(tree)
    return tree


@lru_cache(maxsize=4096)
def _compiled_text(source: str) -> Any:
    _parse(source)
    return _ENV.from_string(source)


@lru_cache(maxsize=4096)
def _compiled_expression(source: str) -> Any:
    _parse("{{ " + source + " }}")
    try:
        return _ENV.compile_expression(source, undefined_to_none=True)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"expression syntax error: {exc.message}") from exc


def validate_text(source: str) -> None:
    """Raise TemplateError if ``source`` is not a template the engine would run."""
    _compiled_text(source)


def validate_expression(source: str) -> None:
    """Raise TemplateError if ``source`` is not an expression the engine would run."""
    _compiled_expression(source)


def render_text(source: str, variables: Mapping[str, Any]) -> str:
    """Render a message text; the output is capped so one rule cannot produce a huge e-mail."""
    template = _compiled_text(source)
    out: list[str] = []
    size = 0
    try:
        for chunk in template.generate(**variables):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateError(f"rendered text exceeds {MAX_OUTPUT_CHARS} characters")
            out.append(chunk)
    except SecurityError as exc:
        raise TemplateError(f"template refused: {exc}") from exc
    except TemplateError:
        raise
    except Exception as exc:  # a template error is the author's, reported as such
        raise TemplateError(f"template failed: {exc}") from exc
    return "".join(out)


def evaluate(source: str, variables: Mapping[str, Any]) -> Any:
    """Compute a value (a number stays a Decimal, so money stays exact)."""
    expression = _compiled_expression(source)
    try:
        return expression(**variables)
    except SecurityError as exc:
        raise TemplateError(f"expression refused: {exc}") from exc
    except Exception as exc:
        raise TemplateError(f"expression failed: {exc}") from exc


ReadKind = Literal["field", "constant"]


def names_read(source: str | None, expression: bool = False) -> list[tuple[ReadKind, str]]:
    """What a template (or an expression) reads, in order of appearance: ``("field", name)`` for
    each deal field — ``deal.amount``, ``deal['amount']``, ``deal.fields.code``, ``deal.stage``
    (its ``stage_id``), ``WHOLE_DEAL`` for the deal used as a whole, ``ALL_CUSTOM_FIELDS`` for its
    custom fields as a whole — and ``("constant", name)`` for each ``const.<name>``. A template that
    does not parse reads nothing: it is refused when it is saved."""
    if not source:
        return []
    try:
        tree = _ENV.parse("{{ " + source + " }}" if expression else source)
    except TemplateSyntaxError:
        return []
    holders: dict[int, nodes.Getattr | nodes.Getitem] = {
        id(s.node): s
        for s in tree.find_all((nodes.Getattr, nodes.Getitem))
        if isinstance(s, nodes.Getattr | nodes.Getitem)
    }
    found: list[tuple[ReadKind, str]] = []
    for name in tree.find_all(nodes.Name):
        if name.ctx != "load" or name.name not in ("deal", "const"):
            continue
        outer = holders.get(id(name))
        key = _key(outer)
        if name.name == "const":
            if key is not None:
                found.append(("constant", key))
        elif key is None or key in _WHOLE_READS:
            found.append(("field", WHOLE_DEAL))
        elif key == "fields":
            code = _key(holders.get(id(outer)))
            found.append(("field", ALL_CUSTOM_FIELDS if code is None or code in _WHOLE_READS else code))
        else:
            found.append(("field", _DERIVED.get(key, key)))
    return list(dict.fromkeys(found))


def _key(node: nodes.Node | None) -> str | None:
    """The name an attribute or a constant subscript reads (``x.name``, ``x['name']``)."""
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None
