"""Which strings are Jinja2: a message text (``TemplateText``) or a computed value (``Expression``).

The model only marks them; what a template may do is the template language's business
(``dealflow.language``), which finds the marked fields of any model, checks them when automation is
saved and reads from them which deal fields and constants they use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal


class TemplateMarker:
    """Marks a string field as a message text: a Jinja2 template rendered with the deal."""


class ExpressionMarker:
    """Marks a string field as a Jinja2 expression whose value is computed with the deal."""


TemplateText = Annotated[str, TemplateMarker]
Expression = Annotated[str, ExpressionMarker]

TextKind = Literal["template", "expression"]


def text_kind(metadata: Iterable[Any]) -> TextKind | None:
    """What a field's metadata (``FieldInfo.metadata`` or ``Annotated`` arguments) marks it as."""
    for item in metadata:
        if item is TemplateMarker:
            return "template"
        if item is ExpressionMarker:
            return "expression"
    return None
