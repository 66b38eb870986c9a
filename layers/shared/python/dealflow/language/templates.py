"""Message texts and computed values: Jinja2 in an immutable sandbox, compiled once, budgeted.

Authors of automation are tenant administrators, not the operators of the engine, so a template
is untrusted code: it may read the deal, constants and variables it is given, and nothing else, and
spend no more than its budget (``dealflow.language.budget``). What its text already shows it may not
do is refused when it is saved (``dealflow.language.analysis``); the sandbox and the budget refuse
again when it runs (``dealflow.language.sandbox``). Every failure is a TemplateError whose message a
person can read: ``template refused: …`` (it may not do that), ``template stopped: …`` (past its
budget), ``template failed: …`` (an error of its own, such as a division by zero).
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SecurityError

from dealflow.language import budget
from dealflow.language.analysis import Refused, refuse_unsafe, too_deep
from dealflow.language.budget import MAX_OUTPUT_CHARS, BudgetExceeded
from dealflow.language.sandbox import ENV as _ENV

WHOLE_DEAL = "*"  # a template that reads the deal as a whole (``{{ deal }}``, ``deal.items()``)
ALL_CUSTOM_FIELDS = "fields.*"  # … or all its custom fields (``deal.fields``)
# What templates see on ``deal`` besides the stored fields (see ActionContext.template_variables).
_DERIVED = {"stage": "stage_id", "pipeline": "pipeline_id", "responsible": "responsible_id"}
_WHOLE_READS = frozenset({"get", "items", "values", "keys"})


class TemplateError(ValueError):
    """A template that cannot be saved or rendered; the message says why, for a person."""


def _parse(source: str, kind: str = "template") -> nodes.Template:
    """The parsed template, or TemplateError naming why it cannot be: a syntax error, or what its
    text already shows it may not do (``analysis.refuse_unsafe``)."""
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error on line {exc.lineno}: {exc.message}") from exc
    except RecursionError:
        raise TemplateError(f"{kind} refused: it nests too deeply to be read") from None
    except ValueError:  # the lexer's int() refuses a number literal of thousands of digits
        raise TemplateError(f"{kind} refused: a number has more digits than a template may hold") from None
    try:
        refuse_unsafe(tree)
    except (Refused, SecurityError) as exc:
        raise TemplateError(f"{kind} refused: {exc}") from None
    return tree


def _compiled(compile_it: Any, kind: str = "template") -> Any:
    try:
        return compile_it()
    except TemplateSyntaxError as exc:  # an unknown filter or test is found when compiling
        raise TemplateError(f"template syntax error on line {exc.lineno}: {exc.message}") from exc
    except RecursionError:
        raise TemplateError(f"{kind} refused: it nests too deeply to be read") from None


@lru_cache(maxsize=4096)
def _compiled_text(source: str) -> Any:
    _parse(source)
    return _compiled(lambda: _ENV.from_string(source))


@lru_cache(maxsize=4096)
def _compiled_expression(source: str) -> Any:
    _parse("{{ " + source + " }}", "expression")
    return _compiled(lambda: _ENV.compile_expression(source, undefined_to_none=True), "expression")


def validate_text(source: str) -> None:
    """Raise TemplateError if ``source`` is not a template the engine would run."""
    _compiled_text(source)


def validate_expression(source: str) -> None:
    """Raise TemplateError if ``source`` is not an expression the engine would run."""
    _compiled_expression(source)


def _reason(exc: BaseException) -> str:
    """What went wrong, for a person: never an empty message or a bare class list."""
    if isinstance(exc, MemoryError):
        return "it ran out of memory (the template builds values that are too large)"
    if isinstance(exc, RecursionError):
        return "it nests too deeply (a macro that calls itself?)"
    if isinstance(exc, decimal.DivisionByZero | ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, decimal.DecimalException):
        return "a number is out of range or not a valid result (" + type(exc).__name__ + ")"
    text = str(exc)
    return text if text and not text.startswith("[<class") else type(exc).__name__


def _failure(kind: str, exc: BaseException) -> TemplateError:
    if isinstance(exc, SecurityError):
        return TemplateError(f"{kind} refused: {exc}")
    if isinstance(exc, BudgetExceeded | MemoryError | RecursionError):
        return TemplateError(f"{kind} stopped: {_reason(exc)}")
    return TemplateError(f"{kind} failed: {_reason(exc)}")  # a template error is the author's


def render_text(source: str, variables: Mapping[str, Any]) -> str:
    """Render a message text within the template budget (``dealflow.language.budget``). A render
    that exceeds it, or writes more than MAX_OUTPUT_CHARS, fails with TemplateError naming why."""
    template = _compiled_text(source)
    out: list[str] = []
    size = 0
    try:
        with budget.rendering():
            for chunk in template.generate(**variables):
                size += len(chunk)
                if size > MAX_OUTPUT_CHARS:
                    raise TemplateError(f"template stopped: the rendered text exceeds {MAX_OUTPUT_CHARS} characters")
                out.append(chunk)
    except TemplateError:
        raise
    except Exception as exc:
        out.clear()  # what was written so far, and (below) the frames holding what it built, go now
        raise _failure("template", exc) from None if isinstance(exc, MemoryError | RecursionError) else exc
    return "".join(out)


def evaluate(source: str, variables: Mapping[str, Any]) -> Any:
    """Compute a value (a number stays a Decimal, so money stays exact), within the template budget."""
    expression = _compiled_expression(source)
    try:
        with budget.rendering():
            return expression(**variables)
    except Exception as exc:
        raise _failure("expression", exc) from None if isinstance(exc, MemoryError | RecursionError) else exc


ReadKind = Literal["field", "constant"]


def names_read(source: str | None, expression: bool = False) -> list[tuple[ReadKind, str]]:
    """What a template (or an expression) reads, in order of appearance: ``("field", name)`` for
    each deal field — ``deal.amount``, ``deal['amount']``, ``deal.fields.code``, ``deal.stage``
    (its ``stage_id``), ``WHOLE_DEAL`` for the deal used as a whole, ``ALL_CUSTOM_FIELDS`` for its
    custom fields as a whole — and ``("constant", name)`` for each ``const.<name>``. A template that
    does not parse reads nothing: it is refused when it is saved."""
    return list(_names_read(source, expression)) if source else []


@lru_cache(maxsize=4096)
def _names_read(source: str, expression: bool) -> tuple[tuple[ReadKind, str], ...]:
    # Compiling a tenant's automation reads every text of every automation again, and many share
    # one text (the same e-mail in a rule per stage): each text is parsed once per container. Jinja2
    # parsing was ~85% of compiling 1,000 rules (bench/README.md, "Session 6, B").
    try:
        tree = _ENV.parse("{{ " + source + " }}" if expression else source)
    except (TemplateSyntaxError, RecursionError, ValueError):
        return ()
    if too_deep(tree):  # refused when saved; walking it could exhaust the stack
        return ()
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
    return tuple(dict.fromkeys(found))


def _key(node: nodes.Node | None) -> str | None:
    """The name an attribute or a constant subscript reads (``x.name``, ``x['name']``)."""
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None
