"""What ``dealflow plan`` and ``apply`` show before anything is written, as a Terraform plan does:
each definition to create (+), change (~, with the paths that change, old → new) or delete (-),
named by kind and id and the file it comes from, then the counts."""

from __future__ import annotations

import difflib
from typing import Any

from dealflow.authoring.document_text import to_json, to_yaml
from dealflow.cli.code_files import CONSTANTS, FIELDS, FOLDERS, document_files

SYMBOL = {"create": "+", "update": "~", "delete": "-"}
WIDTH = 60  # characters of a value shown in a changed path


def _flat(value: Any, at: str = "") -> dict[str, Any]:
    """``value`` as {json path: leaf}; an empty list or mapping is a leaf of its own."""
    if isinstance(value, dict) and value:
        return {k: v for key, item in value.items() for k, v in _flat(item, f"{at}.{key}" if at else str(key)).items()}
    if isinstance(value, list) and value:
        return {k: v for i, item in enumerate(value) for k, v in _flat(item, f"{at}.{i}" if at else str(i)).items()}
    return {at: value}


def _shown(value: Any) -> str:
    text = to_json(value)
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


def changed_paths(before: Any, after: Any) -> list[str]:
    """``path: old → new`` for every leaf that differs (added: ``(none) → new``)."""
    old, new = _flat(before), _flat(after)
    lines = []
    for path in sorted(old.keys() | new.keys()):
        if old.get(path, ...) != new.get(path, ...):
            was = _shown(old[path]) if path in old else "(none)"
            now = _shown(new[path]) if path in new else "(none)"
            lines.append(f"{path or '(whole)'}: {was} → {now}")
    return lines


def _item(document: dict[str, Any], kind: str, name: str) -> tuple[str, Any]:
    """(file, content) of one definition as the import's listing names it (kind, id)."""
    if kind == "constant":
        return CONSTANTS, (document.get("constants") or {}).get(name)
    if kind == "field":
        return FIELDS, next((f for f in document.get("fields") or [] if f.get("code") == name), None)
    section = {"pipeline": "pipelines", "field_step_workflow": "field_step_workflows"}.get(kind, "automation")
    folder, key = FOLDERS[section]
    return f"{folder}/{name}.yaml", next((i for i in document.get(section) or [] if i.get(key) == name), None)


def render_plan(listing: list[dict[str, str]], remote: dict[str, Any], local: dict[str, Any]) -> tuple[str, int]:
    """The plan's text and how many definitions it changes; ``listing`` is the import's dry run."""
    lines, counts = [], {"create": 0, "update": 0, "delete": 0, "unchanged": 0}
    for change in listing:
        action = change["change"]
        counts[action] = counts.get(action, 0) + 1
        if action == "unchanged":
            continue
        file, after = _item(local, change["kind"], change["id"])
        _, before = _item(remote, change["kind"], change["id"])
        where = "" if action == "delete" else f"  ({file})"
        lines.append(f"  {SYMBOL[action]} {change['kind']} {change['id']}{where}")
        if action == "update":
            lines += [f"      ~ {line}" for line in changed_paths(before, after)]
    total = counts["create"] + counts["update"] + counts["delete"]
    summary = (
        f"Plan: {counts['create']} to create, {counts['update']} to change, {counts['delete']} to delete "
        f"({counts['unchanged']} unchanged)."
    )
    if not total:
        return f"No changes: the tenant's automation is the directory's ({counts['unchanged']} definitions).", 0
    return "\n".join([*lines, "", summary]), total


def file_diff(remote: dict[str, Any], local: dict[str, Any]) -> str:
    """A unified diff per file between the tenant's automation (``a/``) and the directory (``b/``),
    each side written as the export writes it, so comments and key order do not count."""
    theirs, ours = document_files(remote), document_files(local)
    chunks = []
    for relative in sorted(theirs.keys() | ours.keys()):
        before = to_yaml(theirs[relative]).splitlines(keepends=True) if relative in theirs else []
        after = to_yaml(ours[relative]).splitlines(keepends=True) if relative in ours else []
        if before != after:
            a = f"a/{relative}" if relative in theirs else "/dev/null"
            b = f"b/{relative}" if relative in ours else "/dev/null"
            chunks.append("".join(difflib.unified_diff(before, after, a, b)))
    return "".join(chunks)
