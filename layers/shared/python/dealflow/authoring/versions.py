"""What changed between two versions of a definition, as JSON paths a person can read.

Objects are compared key by key; lists item by item by position, except lists whose items all
carry an ``id`` (stages, process nodes), which are matched by id so that inserting a stage reads
as one stage added, not every later stage changed."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from dealflow.model.versions import Difference

# Bookkeeping that differs between any two versions and says nothing about what changed.
IGNORED = frozenset({"version", "owner_id"})
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BY_ID = re.compile(r'\[\?\(@\.id=="((?:[^"\\]|\\.)*)"\)\]')
_SHOWN = 80  # characters of a value in the readable line


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if _PLAIN_KEY.match(key) else f"{path}[{json.dumps(key)}]"


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, str):
        text = "'" + text[1:-1] + "'"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _by_id(items: list[Any]) -> dict[str, Any] | None:
    ids = [i.get("id") if isinstance(i, dict) else None for i in items]
    if not items or not all(isinstance(i, str) for i in ids) or len(set(ids)) != len(ids):
        return None
    return {str(item_id): item for item_id, item in zip(ids, items, strict=True)}


def _walk(path: str, before: Any, after: Any, found: list[Difference]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in [*before, *(k for k in after if k not in before)]:
            if path == "$" and key in IGNORED:
                continue
            _walk(_key(path, key), before.get(key, _MISSING), after.get(key, _MISSING), found)
        return
    if isinstance(before, list) and isinstance(after, list):
        old, new = _by_id(before), _by_id(after)
        if old is not None and new is not None:
            for item_id in [*old, *(i for i in new if i not in old)]:
                where = f"{path}[?(@.id=={json.dumps(item_id)})]"
                _walk(where, old.get(item_id, _MISSING), new.get(item_id, _MISSING), found)
            return
        for i in range(max(len(before), len(after))):
            _walk(
                f"{path}[{i}]",
                before[i] if i < len(before) else _MISSING,
                after[i] if i < len(after) else _MISSING,
                found,
            )
        return
    if (before is _MISSING and after is _MISSING) or _same(before, after):
        return
    readable = _BY_ID.sub(r"[\1]", path).removeprefix("$").removeprefix(".") or "(all)"
    if before is _MISSING:
        found.append(Difference(path=path, change="added", after=after, text=f"{readable}: added {_shown(after)}"))
    elif after is _MISSING:
        found.append(
            Difference(path=path, change="removed", before=before, text=f"{readable}: removed {_shown(before)}")
        )
    else:
        text = f"{readable}: {_shown(before)} → {_shown(after)}"
        found.append(Difference(path=path, change="changed", before=before, after=after, text=text))


def _same(before: Any, after: Any) -> bool:
    """Equal as JSON values: 1 and 1.0 are, 1 and true are not."""
    numbers = int | float | Decimal
    if isinstance(before, numbers) and isinstance(after, numbers):
        return isinstance(before, bool) == isinstance(after, bool) and before == after
    return bool(before == after and type(before) is type(after))


class _Missing:
    def __repr__(self) -> str:
        return "missing"


_MISSING: Any = _Missing()


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[Difference]:
    """Every leaf that differs between two versions' bodies as JSON (``version`` and ``owner_id``
    aside), in document order; an added or removed object or list item is one difference."""
    found: list[Difference] = []
    _walk("$", before, after, found)
    return found
