"""The resource budget of one render: what a template may cost, counted across the whole render.

A sandbox guards each operation on its own, yet a loop that prints nothing, a filter fed a huge list
or a value doubled thirty times stays under every per-operation guard while the render runs for
minutes or allocates gigabytes. So every render carries one budget — steps (loop turns, filter and
method calls, the items a filter walks through), the size of each value it builds, the text it writes
(also into ``{% set %}`` blocks and macros), a number's digits and wall time — and stops, with a
reason naming what was exceeded, the moment any of them runs out. Sizes are checked *before* a value
is built wherever the size can be worked out first, so the memory is never taken.

The sandbox (``dealflow.language.sandbox``) calls into this module from the code Jinja2 generates;
``templates.render_text`` and ``templates.evaluate`` open a budget around each render.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

MAX_STEPS = 100_000  # loop turns, filter and method calls, items a filter walks through
MAX_VALUE_CHARS = 100_000  # characters of one string, items of one list, built during a render
MAX_OUTPUT_CHARS = 100_000  # the rendered text (a longer one fails its run rather than being cut)
MAX_WRITTEN_CHARS = 1_000_000  # all text written, into the output, set blocks and macros alike
MAX_BUILT = 10_000_000  # characters and items of all the strings and lists built, kept or not
MAX_DIGITS = 1_000  # digits of an integer
MAX_SECONDS = 1.0  # the backstop: every step checks the clock
MAX_VALUE_DEPTH = 50  # lists in lists (in lists...) a value may hold when it is written out


class BudgetExceeded(Exception):
    """The render used up part of its budget; the message names which part, for a person."""


class Budget:
    __slots__ = ("built", "deadline", "steps", "written")

    def __init__(self) -> None:
        self.steps = 0
        self.written = 0
        self.built = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def step(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > MAX_STEPS:
            raise BudgetExceeded(f"it took more than {MAX_STEPS:,} steps (loop turns, filter and method calls)")
        self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(f"it ran longer than {MAX_SECONDS:g} second(s)")

    def write(self, chars: int) -> None:
        self.written += chars
        if self.written > MAX_WRITTEN_CHARS:
            raise BudgetExceeded(
                f"it wrote more than {MAX_WRITTEN_CHARS:,} characters (output, set blocks and macros together)"
            )
        self.check_time()

    def build(self, size: int) -> None:
        # Values a render keeps (in a namespace, a list) are not written anywhere: counting what is
        # built bounds the memory a render can hold however it stores it.
        self.built += size
        if self.built > MAX_BUILT:
            raise BudgetExceeded(f"it built more than {MAX_BUILT:,} characters and list items in all")


_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("template_budget", default=None)


@contextmanager
def rendering() -> Iterator[Budget]:
    """A fresh budget for the render inside; nothing of it outlives the render."""
    fresh = Budget()
    token = _CURRENT.set(fresh)
    try:
        yield fresh
    finally:
        _CURRENT.reset(token)


def active() -> bool:
    """Whether a render (and so a budget) is under way."""
    return _CURRENT.get() is not None


def step(count: int = 1) -> None:
    budget = _CURRENT.get()
    if budget is not None:
        budget.step(count)


# --- sizes --------------------------------------------------------------------------------------------


def too_long(chars: int) -> BudgetExceeded:
    return BudgetExceeded(f"a value of {chars:,} characters exceeds the {MAX_VALUE_CHARS:,} a template may build")


def check_length(chars: int) -> None:
    if chars > MAX_VALUE_CHARS:
        raise too_long(chars)


def digits(number: int) -> int:
    """An integer's decimal digits, without writing it out (which is quadratic for huge ones)."""
    return int(abs(number).bit_length() * 0.30103) + 1


def text_size(value: Any, limit: int = MAX_VALUE_CHARS) -> int:
    """About how many characters ``str(value)`` has; stops counting past ``limit`` (the answer is then
    just "more"). Containers are walked without writing them out."""
    if isinstance(value, str):
        return len(value)
    total = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack and total <= limit:
        item, depth = stack.pop()
        if isinstance(item, str):
            total += len(item) + 4  # quotes and a separator, as a list prints its strings
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += digits(item) + 2
        elif isinstance(item, float | Decimal):
            total += len(str(item)) + 2
        elif isinstance(item, Mapping | list | tuple | set | frozenset | range):
            if depth >= MAX_VALUE_DEPTH:
                raise BudgetExceeded(f"a value nests more than {MAX_VALUE_DEPTH} lists deep")
            if isinstance(item, range):
                total += len(str(item))
                continue
            step(len(item) // 100)  # walking a container is work too
            total += 2
            children: Iterable[Any] = (
                (part for pair in item.items() for part in pair) if isinstance(item, Mapping) else item
            )
            stack.extend((child, depth + 1) for child in children)
        else:
            attrs = getattr(item, "_Namespace__attrs", None)  # a Jinja namespace prints its attributes
            if isinstance(attrs, dict):
                stack.append((attrs, depth + 1))
            else:
                total += len(str(item))
    return total


def check_text(value: Any) -> int:
    """``text_size(value)``, refused past the value limit (before ``str(value)`` is ever built)."""
    size = text_size(value)
    check_length(size)
    return size


def _built(size: int) -> None:
    budget = _CURRENT.get()
    if budget is not None:
        budget.build(size)


def bounded(value: Any) -> Any:
    """A value an operation produced, checked against the budget; a lazy sequence is counted as it
    is consumed."""
    if isinstance(value, str | list | tuple | dict | set | frozenset):
        check_length(len(value))
        _built(len(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        if digits(value) > MAX_DIGITS:
            raise BudgetExceeded(f"a number would have more than {MAX_DIGITS:,} digits")
    elif isinstance(value, Iterator):
        return turns(value)
    return value


# --- what the generated code calls ---------------------------------------------------------------------


def turns(iterable: Any) -> Iterator[Any]:
    """A loop's items, one step each. A set is walked in sorted order: its own order changes with
    the process's hash seed, and a run replayed after a wait must make the same choices."""
    if isinstance(iterable, set | frozenset):
        iterable = sorted(iterable, key=str)
    for item in iterable:
        step()
        yield item


def concat(*parts: Any) -> str:
    """``a ~ b``: sized before it is joined."""
    total = 0
    for part in parts:
        total += text_size(part)
        check_length(total)
    _built(total)
    return "".join(map(str, parts))


def emit(value: Any) -> Any:
    """Every piece of text a template writes — literal text, ``{{ ... }}`` — passes here: an unset
    field prints as nothing (not "None"), and the text is counted before it is built."""
    if value is None:
        return ""
    size = check_text(value)
    budget = _CURRENT.get()
    if budget is not None:
        budget.write(size)
    return value
