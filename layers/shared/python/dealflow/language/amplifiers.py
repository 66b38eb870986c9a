"""Filters and string methods that build a value much larger than what they are given: each result's
size is worked out from the arguments *before* it is built, so ``'x'|indent(99999)`` on a
thousand-line text or ``s.replace('', big)`` is refused instead of allocating gigabytes.

Widths are also capped on their own (``'x'.ljust(10**9)`` needs no input at all). What any filter
or method returns is checked once more afterwards (``budget.bounded``); this module is about the
ones whose result would not fit in memory to be checked afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from jinja2.sandbox import SecurityError

from dealflow.language import budget
from dealflow.language.budget import MAX_DIGITS, MAX_VALUE_CHARS, BudgetExceeded, check_length, text_size

_WIDTH = re.compile(r"(\d+)")
# A width taken from the arguments: ``'%*s' % (n, x)``, ``'{0:{1}}'.format(x, n)``.
_WIDTH_FROM_ARGUMENTS = re.compile(r"%[-+ #0]*\*|\{[^{}]*\{")


def check_widths(*values: Any) -> None:
    """Refuse padding and format widths that would build huge strings (``'x'.ljust(10**9)``,
    ``'%10000000s'``): a width is a number, or the digits in a format string."""
    for value in values:
        numbers = (
            [value]
            if isinstance(value, int) and not isinstance(value, bool)
            else ([int(n) for n in _WIDTH.findall(value)] if isinstance(value, str) else [])
        )
        if any(n > MAX_VALUE_CHARS for n in numbers):
            raise SecurityError(f"widths are limited to {MAX_VALUE_CHARS} characters")


def _text(value: Any) -> str:
    """A filter's input as the text it works on (its size was checked first)."""
    return value if isinstance(value, str) else "" if value is None else str(value)


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def replaced_size(text: str, old: Any, new: Any, count: Any = -1) -> int:
    old, new = str(old), str(new)
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def formatted_size(template: str, placeholders: int, args: Any) -> int:
    """A format string fills each placeholder with at most its largest argument (``'{0}{0}{0}'``
    repeats one argument as often as it likes)."""
    check_widths(template)
    values = (
        list(args.values()) if isinstance(args, Mapping) else list(args) if isinstance(args, tuple | list) else [args]
    )
    if _WIDTH_FROM_ARGUMENTS.search(template):
        check_widths(*values)
    largest = max((text_size(v) for v in values), default=0)
    return len(template) + placeholders * largest


def joined(items: Any, separator: Any) -> list[Any]:
    """The items of a join, sized (and counted as steps) before the join builds them."""
    listed = list(items)
    budget.step(len(listed))
    total = max(len(listed) - 1, 0) * len(str(separator))
    for item in listed:
        total += text_size(item)
        check_length(total)
    check_length(total)
    return listed


def _wrapped_size(text: str, width: Any, wrapstring: Any) -> int:
    width = width if isinstance(width, int) and width > 0 else 1
    lines = min(len(text) + 1, 2 * len(text) // width + text.count("\n") + 2)
    return len(text) + lines * len(str(wrapstring if wrapstring is not None else "\n"))


def _indented_size(text: str, width: Any) -> int:
    indent = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    return len(text) + (text.count("\n") + 2) * indent


def _linked_size(text: str, target: Any, rel: Any) -> int:
    """``|urlize`` puts ``target`` and ``rel`` into every link it makes: at most one a word."""
    extras = len(_text(target)) + len(_text(rel))
    return len(text) + (sum(1 for word in text.split() if "." in word or "@" in word) * extras if extras else 0)


def _summed(values: Any, start: Any) -> list[Any]:
    """``|sum(start=[])`` concatenates lists: their total length is known before (the items, counted
    as steps as they are listed, are what the sum then runs over)."""
    listed = list(values)
    if not isinstance(start, int | float | Decimal):
        check_length(sum(len(v) for v in listed if isinstance(v, str | list | tuple)))
    return listed


# For each amplifying filter: the size of what it would build, from its bound arguments.
_FILTER_SIZES: dict[str, Callable[[dict[str, Any]], int]] = {
    "center": lambda a: max(len(_text(a.get("value"))), _int(a.get("width"))),
    "indent": lambda a: _indented_size(_text(a.get("s")), a.get("width")),
    "wordwrap": lambda a: _wrapped_size(_text(a.get("s")), a.get("width"), a.get("wrapstring")),
    "truncate": lambda a: min(len(_text(a.get("s"))), _int(a.get("length"))) + len(_text(a.get("end"))),
    "replace": lambda a: replaced_size(_text(a.get("s")), a.get("old", ""), a.get("new", ""), _int(a.get("count"), -1)),
    "urlize": lambda a: _linked_size(_text(a.get("value")), a.get("target"), a.get("rel")),
    "tojson": lambda a: text_size(a.get("value")) * (1 + _int(a.get("indent"))),
    "format": lambda a: formatted_size(
        _text(a.get("value")), _text(a.get("value")).count("%"), a.get("kwargs") or a.get("args") or ()
    ),
}
# Filters that write their input out as text (``|string``, ``|tojson``): the input's text size first.
_STRINGIFYING = frozenset(
    {
        "string",
        "tojson",
        "pprint",
        "e",
        "escape",
        "forceescape",
        "urlencode",
        "xmlattr",
        "trim",
        "upper",
        "lower",
        "title",
        "capitalize",
        "striptags",
        "urlize",
        "wordcount",
        "safe",
        "reverse",
        "list",
    }
)


def before_filter(name: str, arguments: dict[str, Any], value_key: str) -> None:
    """Check a filter call against the budget before it runs (``arguments`` are its bound
    arguments, ``value_key`` the one the filtered value is bound to; a join's items are replaced by
    the list it was sized with)."""
    value = arguments.get(value_key)
    if name in ("center", "indent", "wordwrap", "truncate"):
        width = arguments.get("length") if name == "truncate" else arguments.get("width")
        check_widths(width)
    if (name in _FILTER_SIZES or name in _STRINGIFYING) and not isinstance(value, str):
        budget.check_text(value)
    if name in _FILTER_SIZES:
        check_length(_FILTER_SIZES[name](arguments))
    elif name == "join":
        arguments[value_key] = joined(value, arguments.get("d", ""))
    elif name == "batch":
        check_widths(arguments.get("linecount"))
    elif name == "sum" and value is not None:
        arguments[value_key] = _summed(value, arguments.get("start"))
    elif name == "int" and isinstance(value, Decimal) and value.is_finite() and value.adjusted() > MAX_DIGITS:
        raise BudgetExceeded(f"a number would have more than {MAX_DIGITS:,} digits")


_PADDING = frozenset({"ljust", "rjust", "center", "zfill"})


def before_method(text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Check a call of a string's method against the budget before it runs; the positional
    arguments it should run with."""
    if name in _PADDING:
        check_widths(*args, *kwargs.values())
    elif name == "expandtabs":
        size = kwargs.get("tabsize", args[0] if args else 8)
        check_widths(size)
        check_length(len(text) + text.count("\t") * (size if isinstance(size, int) else 8))
    elif name in ("format", "format_map"):
        values: Any = args[0] if name == "format_map" and args else [*args, *kwargs.values()]
        check_length(formatted_size(text, text.count("{"), values))
    elif name == "replace" and len(args) >= 2:
        check_length(replaced_size(text, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count", -1)))
    elif name == "join" and args:
        return (joined(args[0], text), *args[1:])
    elif name == "translate" and args and isinstance(args[0], Mapping):
        check_length(len(text) * max((text_size(v) for v in args[0].values()), default=1))
    return args
