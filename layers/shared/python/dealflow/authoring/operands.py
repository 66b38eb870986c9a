"""What is checked of conditions' values before automation is written: a value that is a template
(``"{{ const.min }}"`` — compared as that very text, so the condition would silently never hold)
is refused with the operand to write instead; a ``{"var": name}`` names a variable that exists;
and the two sides of a clause are of kinds that can be compared — a number field against a text
constant, or a date field against a number, is refused naming both. Constants and fields that do
not exist are the references' to report (``dealflow.engine.references``): a 422 here, a warning
when one is deleted later."""

from __future__ import annotations

import re
from typing import Any

from dealflow.engine.compiled import TenantAutomation
from dealflow.engine.references import conditions_at
from dealflow.model import BusinessProcess, Clause, FieldKind
from dealflow.model.catalog import Automation
from dealflow.model.conditions import OPERAND_KEYS, ConstOperand, FieldOperand, VarOperand

# What can be compared with what: each kind of value (a field's, a constant's or variable's type)
# belongs to one family, and only values of one family compare (list values and users are text).
_FAMILY = {
    FieldKind.NUMBER: "number",
    FieldKind.DATE: "date",
    FieldKind.CHECKBOX: "boolean",
    FieldKind.TEXT: "text",
    FieldKind.LIST: "text",
    FieldKind.USER: "text",
    "number": "number",
    "date": "date",
    "boolean": "boolean",
    "text": "text",
    "user": "text",
}
# Standard deal fields with one kind (the others — contact, company, steps, … — are not checked).
_STANDARD_KINDS = {
    "amount": "number",
    "version": "number",
    "title": "text",
    "currency": "text",
    "responsible_id": "user",
    "pipeline_id": "text",
    "stage_id": "text",
    "entity": "text",
    "id": "text",
    "lead_id": "text",
    "copied_from_id": "text",
    "created_at": "date",
    "updated_at": "date",
}
_TEMPLATE = re.compile(r"\{\{|\{%")
_ONE_NAME = re.compile(r"^\s*\{\{\s*(const|var|deal)\.([a-z][a-z0-9_]*)\s*\}\}\s*$")
_OPERAND_OF = {"const": "const", "var": "var", "deal": "field"}
_OPERAND_KIND: dict[type, str] = {ConstOperand: "const", VarOperand: "var", FieldOperand: "field"}


class _Sides:
    """The kinds of what a condition of one automation can read, by the name its view holds."""

    def __init__(self, automation: Automation, known: TenantAutomation) -> None:
        tenant = known.tenant
        self.kinds: dict[str, str] = {f"const.{k}": v.type for k, v in tenant.constants.items()}
        self.kinds |= {f"var.{k}": v.type for k, v in tenant.variables.items()}
        self.variables = set(tenant.variables)
        if isinstance(automation, BusinessProcess):
            own = automation.parameters | automation.variables
            self.kinds |= {f"var.{k}": v.type for k, v in own.items()}
            self.variables |= set(own) | _set_variables(automation.nodes)
            # A variable a set_variable node writes may hold anything: its kind is not checked.
            for name in _set_variables(automation.nodes) - set(own):
                self.kinds.pop(f"var.{name}", None)
        self.kinds |= _STANDARD_KINDS
        self.kinds |= {code: definition.kind.value for code, definition in known.fields.items()}

    def described(self, name: str) -> str:
        kind = self.kinds[name]
        if name.startswith("const."):
            return f"constant '{name[6:]}' is {kind}"
        if name.startswith("var."):
            return f"variable '{name[4:]}' is {kind}"
        return f"field '{name}' is a {kind} field"


def _set_variables(tree: list[Any]) -> set[str]:
    found: set[str] = set()
    for node in tree:
        if node.kind == "set_variable":
            found.add(node.variable)
        for key in ("fault", "otherwise", "nodes"):
            found |= _set_variables(getattr(node, key, None) or [])
        for branch in getattr(node, "branches", None) or []:
            found |= _set_variables(branch.nodes)
    return found


def template_hint(value: str) -> str:
    """Why a template is no condition value, and what to write instead."""
    one = _ONE_NAME.match(value)
    instead = (
        f'{{"{_OPERAND_OF[one.group(1)]}": "{one.group(2)}"}}'
        if one
        else '{"const": name}, {"var": name} or {"field": code}'
    )
    return (
        "a condition's value is compared as written, not rendered as a template "
        f"('{value[:60]}' would be compared as that text); to compare with a constant, a variable "
        f"or another field write {instead}"
    )


def _literal_problems(at: str, value: Any) -> list[dict[str, str]]:
    if isinstance(value, str) and _TEMPLATE.search(value):
        return [{"field": at, "problem": template_hint(value)}]
    if isinstance(value, list):
        found = []
        for i, item in enumerate(value):
            if isinstance(item, dict) and len(item) == 1 and next(iter(item)) in OPERAND_KEYS:
                problem = "a list of values holds literals only; an operand compares with the whole value"
                found.append({"field": f"{at}.{i}", "problem": problem})
            else:
                found += _literal_problems(f"{at}.{i}", item)
        return found
    return []


def _clause_problems(at: str, clause: Clause, sides: _Sides) -> list[dict[str, str]]:
    operand = clause.operand
    if operand is None:
        return _literal_problems(f"{at}.value", clause.value)
    if isinstance(operand, VarOperand) and operand.var not in sides.variables:
        return [{"field": f"{at}.value.var", "problem": f"no variable '{operand.var}' in this tenant or process"}]
    left, right = clause.field, operand.key
    if left not in sides.kinds or right not in sides.kinds:
        return []  # a name that does not resolve is the references' to report
    if clause.op in ("in", "not_in") and isinstance(operand, FieldOperand):
        if sides.kinds[right] != FieldKind.LIST.value:
            problem = f"'{clause.op}' needs a list field; {sides.described(right)}"
            return [{"field": f"{at}.value.field", "problem": problem}]
        return []
    if _FAMILY.get(sides.kinds[left]) != _FAMILY.get(sides.kinds[right]):
        where = f"{at}.value.{_OPERAND_KIND[type(operand)]}"
        problem = f"{sides.described(left)} and {sides.described(right)}: they cannot be compared"
        return [{"field": where, "problem": problem}]
    return []


def operand_problems(automation: Automation, known: TenantAutomation) -> list[dict[str, str]]:
    """Every problem of ``automation``'s conditions' values, each naming where it is written
    (``condition.all.0.value.const``)."""
    sides = _Sides(automation, known)
    found: list[dict[str, str]] = []
    for at, condition in conditions_at(automation):
        for path, clause in _clause_paths(at, condition):
            found += _clause_problems(path, clause, sides)
    return found


def _clause_paths(at: str, condition: Any) -> list[tuple[str, Clause]]:
    if isinstance(condition, Clause):
        return [(at, condition)]
    key = "all" if hasattr(condition, "all") else "any"
    return [pair for i, inner in enumerate(getattr(condition, key)) for pair in _clause_paths(f"{at}.{key}.{i}", inner)]


__all__ = ["operand_problems", "template_hint"]
