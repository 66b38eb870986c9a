"""Message texts and computed values: Jinja2 in an immutable sandbox, compiled once, capped.

Authors of automation are tenant administrators, not the operators of the engine, so a template
is untrusted code: it may read the deal, constants and variables it is given, and nothing else.
Attempts to reach Python internals are refused when the template is saved (a static check) and
again when it runs (the sandbox).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

MAX_OUTPUT_CHARS = 100_000
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


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        left, right = _exact(left, right)
        if op == "*":
            for seq, times in ((left, right), (right, left)):
                too_long = isinstance(seq, str | list | tuple) and isinstance(times, int) and (
                    len(seq) * times > MAX_SEQUENCE_PRODUCT)
                if too_long:
                    raise SecurityError("repetition would produce a value that is too large")
        if op == "**" and isinstance(right, int | float | Decimal) and abs(right) > MAX_POWER_EXPONENT:
            raise SecurityError(f"exponent is limited to {MAX_POWER_EXPONENT}")
        return self.binop_table[op](left, right)


_ENV = _Environment(undefined=_Undefined, autoescape=False, keep_trailing_newline=True)


def _refuse_private_names(tree: nodes.Node) -> None:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Name):
            name = node.name
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
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
