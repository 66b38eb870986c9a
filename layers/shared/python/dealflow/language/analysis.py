"""What a template's text already tells before it runs, refused when automation is saved.

The budget stops any render that goes too far (``dealflow.language.budget``); what can be seen in
the text itself is refused earlier, naming the problem, so an author learns it at save and not from
a failed run: reaching for Python internals, nesting too deep, oversized literals, ranges and nested
loops beyond the budget, amplifying filters and operators with huge constant arguments, anything
random, custom fields read as ``deal.fields.<code>`` (which renders nothing: they are
``deal.<code>``), and facts of the run that do not exist (``run.<name>``, ``run.error.<name>``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TypeGuard

from jinja2 import nodes

from dealflow.language.amplifiers import check_widths
from dealflow.language.budget import MAX_DIGITS, MAX_OUTPUT_CHARS, MAX_STEPS, MAX_VALUE_CHARS
from dealflow.language.sandbox import MAX_POWER_EXPONENT, NONDETERMINISTIC_FILTERS, NONDETERMINISTIC_GLOBALS

MAX_NESTING = 50  # levels of the parsed template: expressions in loops in conditions...
_WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch"})
_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
# What templates see of the run (``dealflow.engine.run_steps``): its id, the link to it, the
# automation's name, and the last failure it handled (in a fault branch, or after an action that
# may continue; absent before any), and the event the last wait_for node received (absent before).
RUN_FACTS = frozenset({"id", "url", "automation", "error", "event"})
RUN_ERROR_FACTS = frozenset({"step", "reason", "attempts"})
_REPLAY = "a run replayed after a wait must decide the same way, so templates offer nothing random"


class Refused(ValueError):
    """What is wrong with a template, for a person."""


def refuse_unsafe(tree: nodes.Template) -> None:
    """Raise Refused naming the first thing ``tree`` may not do. The depth is checked first, without
    recursion: the other checks walk the tree recursively."""
    if too_deep(tree):
        raise Refused(f"the template nests more than {MAX_NESTING} levels deep (brackets, loops, conditions)")
    _refuse_private_names(tree)
    _refuse_random(tree)
    _refuse_fields_form(tree)
    _refuse_unknown_run_facts(tree)
    _refuse_large_literals(tree)
    _refuse_amplifiers(tree)
    _refuse_long_loops(_loops_in([tree]), 1)


def too_deep(tree: nodes.Node) -> bool:
    """Whether ``tree`` nests deeper than allowed (then walking it recursively is not safe)."""
    return _depth(tree) > MAX_NESTING


def _depth(tree: nodes.Node) -> int:
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_NESTING:  # deeper than that is refused anyway: no need to walk on
            stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


def _internals(name: str) -> Refused:
    return Refused(f"'{name}' reaches Python internals; templates may only use deal fields, constants and variables")


def _refuse_private_names(tree: nodes.Node) -> None:
    for const in tree.find_all(nodes.Const):
        if isinstance(const.value, str) and const.value.startswith("__"):
            raise _internals(const.value)
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        name = _name_of(node) if not isinstance(node, nodes.Name) else node.name
        if name is not None and name.startswith("_"):
            raise _internals(name)


def _name_of(node: nodes.Node | None) -> str | None:
    """The name an attribute or a constant subscript reads (``x.name``, ``x['name']``)."""
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None


def _refuse_random(tree: nodes.Node) -> None:
    for found in tree.find_all(nodes.Filter):
        if found.name in NONDETERMINISTIC_FILTERS:
            raise Refused(f"the filter '{found.name}' is not available: {_REPLAY} (choose with a condition instead)")
    for name in tree.find_all(nodes.Name):
        if name.name in NONDETERMINISTIC_GLOBALS and name.ctx == "load":
            raise Refused(f"'{name.name}' is not available: {_REPLAY}")


def _refuse_fields_form(tree: nodes.Node) -> None:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        holder = getattr(node, "node", None)
        if _name_of(holder) != "fields":
            continue
        owner = getattr(holder, "node", None)
        if isinstance(owner, nodes.Name) and owner.name == "deal":
            code = _name_of(node) or "<code>"
            if code in ("items", "values", "keys", "get"):
                raise Refused(
                    "deal.fields holds nothing: custom fields sit beside the standard ones as deal.<code> "
                    f"(deal.{code}() goes through all of them)"
                )
            raise Refused(
                f"custom fields are read as deal.<code>: write deal.{code}, not deal.fields.{code} "
                "(which renders nothing)"
            )


def _refuse_unknown_run_facts(tree: nodes.Node) -> None:
    """``run.<name>`` and ``run.error.<name>`` render nothing unless the run has that fact."""
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        holder, name = getattr(node, "node", None), _name_of(node)
        if name is None:
            continue
        if isinstance(holder, nodes.Name) and holder.name == "run" and name not in RUN_FACTS:
            raise Refused(f"run.{name} is not a fact of the run: there are run.{', run.'.join(sorted(RUN_FACTS))}")
        inner = getattr(holder, "node", None)
        if (
            _name_of(holder) == "error"
            and isinstance(inner, nodes.Name)
            and inner.name == "run"
            and name not in RUN_ERROR_FACTS
        ):
            known = ", run.error.".join(sorted(RUN_ERROR_FACTS))
            raise Refused(f"run.error.{name} is not a fact of a failure: there are run.error.{known}")


def _refuse_large_literals(tree: nodes.Node) -> None:
    for data in tree.find_all(nodes.TemplateData):
        if len(data.data) > MAX_OUTPUT_CHARS:
            raise Refused(f"its text is {len(data.data):,} characters long; a render may write {MAX_OUTPUT_CHARS:,}")
    for const in tree.find_all(nodes.Const):
        value = const.value
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            raise Refused(f"a text of {len(value):,} characters is longer than the {MAX_VALUE_CHARS:,} allowed")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value).bit_length() * 0.30103 > MAX_DIGITS:
            raise Refused(f"a number has more than the {MAX_DIGITS:,} digits allowed")


def _number(node: nodes.Node) -> float | None:
    """A constant expression's value as a float (infinite when huge), or None when it depends on
    data. Computed in floats, so ``10 ** 10 ** 7`` is looked at without being worked out."""
    if isinstance(node, nodes.Const) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        try:
            return float(node.value)
        except OverflowError:
            return math.inf
    if isinstance(node, nodes.Neg | nodes.Pos):
        inner = _number(node.node)
        return None if inner is None else -inner if isinstance(node, nodes.Neg) else inner
    if isinstance(node, nodes.BinExpr):
        left, right = _number(node.left), _number(node.right)
        if left is None or right is None:
            return None
        try:
            match node.operator:
                case "+":
                    return left + right
                case "-":
                    return left - right
                case "*":
                    return left * right
                case "**":
                    return math.pow(left, right) if abs(right) <= 1e6 else math.inf
                case "/" | "//" if right:
                    return left / right
        except (OverflowError, ValueError):
            return math.inf
    return None


def _too_large(node: nodes.Node, limit: int) -> float | None:
    number = _number(node)
    return number if number is not None and abs(number) > limit else None


def _refuse_amplifiers(tree: nodes.Node) -> None:
    for binary in tree.find_all((nodes.Mul, nodes.Pow, nodes.Mod)):
        if isinstance(binary, nodes.Pow) and _too_large(binary.right, MAX_POWER_EXPONENT) is not None:
            raise Refused(f"exponent is limited to {MAX_POWER_EXPONENT}")
        if isinstance(binary, nodes.Mul):
            for seq, times in ((binary.left, binary.right), (binary.right, binary.left)):
                count = _number(times)
                length = _literal_length(seq)
                if count is not None and length and length * count > MAX_VALUE_CHARS:
                    raise Refused("repetition would produce a value that is too large")
        if isinstance(binary, nodes.Mod) and isinstance(binary.left, nodes.Const):
            check_widths(binary.left.value)
    for found in tree.find_all(nodes.Filter):
        if found.name in _WIDTH_FILTERS and found.args and _too_large(found.args[0], MAX_VALUE_CHARS) is not None:
            raise Refused(f"widths are limited to {MAX_VALUE_CHARS} characters ('{found.name}')")
        if found.name == "format" and isinstance(found.node, nodes.Const):
            check_widths(found.node.value)
        if found.name == "slice" and found.args and _too_large(found.args[0], MAX_STEPS) is not None:
            raise Refused(f"'slice' would make more than the {MAX_STEPS:,} pieces a render may go through")
    for call in tree.find_all(nodes.Call):
        if _is_range(call) and _range_length(call) > MAX_STEPS:
            raise Refused(f"a range may have at most {MAX_STEPS:,} numbers")
        method = call.node
        if not isinstance(method, nodes.Getattr):
            continue
        if method.attr in _WIDTH_METHODS and any(_too_large(arg, MAX_VALUE_CHARS) is not None for arg in call.args):
            raise Refused(f"widths are limited to {MAX_VALUE_CHARS} characters ('{method.attr}')")
        if method.attr in ("format", "format_map") and isinstance(method.node, nodes.Const):
            check_widths(method.node.value)


def _literal_length(node: nodes.Node) -> int:
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return len(node.value)
    if isinstance(node, nodes.List | nodes.Tuple):
        return len(node.items)
    return 0


def _turns(loop: nodes.For) -> float:
    """How often a loop turns, when its text says so (``range(…)`` of constants, a literal list);
    1 when the data decide."""
    source = loop.iter
    if isinstance(source, nodes.List | nodes.Tuple):
        return len(source.items)
    return _range_length(source) if _is_range(source) else 1


def _is_range(node: nodes.Node) -> TypeGuard[nodes.Call]:
    return isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range"


def _range_length(source: nodes.Call) -> float:
    """How many numbers ``range(…)`` gives when its arguments are constants; 1 when data decide."""
    bounds = [_number(arg) for arg in source.args]
    if not bounds or any(b is None for b in bounds) or source.kwargs or source.dyn_args:
        return 1
    start, stop, stride = (0.0, bounds[0], 1.0) if len(bounds) == 1 else (*bounds[:2], (bounds[2:] or [1.0])[0])
    assert start is not None and stop is not None and stride is not None
    if not stride or math.isnan(stop - start):
        return 1
    return max(math.ceil((stop - start) / stride), 0) if math.isfinite(stop - start) else math.inf


def _loops_in(parts: list[nodes.Node]) -> Iterator[nodes.For]:
    """The loops in ``parts`` that no other loop of them holds."""
    for part in parts:
        if isinstance(part, nodes.For):
            yield part
        else:
            yield from _loops_in(list(part.iter_child_nodes()))


def _refuse_long_loops(loops: Iterator[nodes.For], outer: float) -> None:
    for loop in loops:
        turns = outer * _turns(loop)
        if turns > MAX_STEPS:
            raise Refused(f"loops here would turn {_count(turns)} times; a render may take at most {MAX_STEPS:,} steps")
        _refuse_long_loops(_loops_in([*loop.body, *loop.else_]), turns)


def _count(turns: float) -> str:
    return f"{int(turns):,}" if math.isfinite(turns) and turns < 1e15 else "more than 10**15"
