"""The templates a model holds, found and checked.

A model marks its message texts and computed values in their types (``dealflow.model.texts``);
``texts_in`` finds them in any model — or in the JSON a model is about to be made from, guided by
its type — each with the path its author wrote it at (``nodes.0.branches.0.nodes.1.action.body``).
``template_problems`` is the save-time check: a text that does not parse or reaches for Python
internals is a problem naming that path."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError, ValidatorFunctionWrapHandler
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from dealflow.language.templates import TemplateError, validate_expression, validate_text
from dealflow.model.texts import TextKind, text_kind

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Text:
    """One template of a model: where it is, what it says, and whether it is an expression."""

    loc: Loc
    source: str
    kind: TextKind

    @property
    def at(self) -> str:
        return ".".join(str(part) for part in self.loc)

    @property
    def expression(self) -> bool:
        return self.kind == "expression"


def texts_in(value: Any, annotation: Any = None, loc: Loc = ()) -> list[Text]:
    """Every template ``value`` holds: a model instance (or a list or dict of them), or raw JSON
    read as ``annotation`` says — then whatever does not fit the type is passed over."""
    found = _walk(annotation if annotation is not None else type(value), value, loc, None)
    return list({text.loc: text for text in found}.values())


def _walk(annotation: Any, data: Any, loc: Loc, discriminator: Any) -> Iterator[Text]:
    if data is None:
        return
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *metadata = get_args(annotation)
        kind = text_kind(metadata)
        if kind is not None:
            if isinstance(data, str):
                yield Text(loc, data, kind)
            return
        chosen = next((getattr(m, "discriminator", None) for m in metadata if hasattr(m, "discriminator")), None)
        yield from _walk(base, data, loc, chosen or discriminator)
    elif origin in (Union, types.UnionType):
        for member in _members_for(get_args(annotation), data, discriminator):
            yield from _walk(member, data, loc, None)
    elif origin is list and isinstance(data, list):
        for i, item in enumerate(data):
            yield from _walk(get_args(annotation)[0], item, (*loc, i), None)
    elif origin is dict and isinstance(data, dict):
        for key, item in data.items():
            yield from _walk(get_args(annotation)[1], item, (*loc, str(key)), None)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from _fields(annotation, data, loc)


def _fields(model: type[BaseModel], data: Any, loc: Loc) -> Iterator[Text]:
    if isinstance(data, BaseModel):
        model = type(data)
    elif not isinstance(data, dict):
        return
    for name, info in model.model_fields.items():
        key = info.alias or name
        child = getattr(data, name) if isinstance(data, BaseModel) else data.get(key, data.get(name))
        kind = text_kind(info.metadata)
        if kind is not None:
            if isinstance(child, str):
                yield Text((*loc, key), child, kind)
        else:
            yield from _walk(info.annotation, child, (*loc, key), info.discriminator)


def _members_for(members: tuple[Any, ...], data: Any, discriminator: Any) -> list[Any]:
    """The union members ``data`` may be: its own model, the one its tag names, else all of them."""
    if isinstance(data, BaseModel):
        return [type(data)]
    if isinstance(discriminator, str) and isinstance(data, dict):
        return [
            m
            for m in members
            if isinstance(m, type)
            and issubclass(m, BaseModel)
            and discriminator in m.model_fields
            and m.model_fields[discriminator].default == data.get(discriminator)
        ]
    return [m for m in members if m is not type(None)]


def _refused(value: Any, annotation: Any = None) -> list[tuple[Text, str]]:
    refused = []
    for text in texts_in(value, annotation):
        try:
            (validate_expression if text.expression else validate_text)(text.source)
        except TemplateError as exc:
            refused.append((text, str(exc)))
    return refused


def template_problems(value: Any, annotation: Any = None) -> list[dict[str, str]]:
    """``{"field", "problem"}`` for each template of ``value`` the engine would refuse to run."""
    return [{"field": text.at, "problem": problem} for text, problem in _refused(value, annotation)]


def with_template_problems(annotation: Any) -> Callable[[Any, ValidatorFunctionWrapHandler], Any]:
    """A wrap validator for ``annotation``: when its JSON is invalid, the problems of its
    templates are reported with the rest, so one answer names every problem. (A valid one's
    templates are checked when it is saved.)"""

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            refused = _refused(value, annotation)
            if not refused:
                raise
            details = [_again(error) for error in exc.errors()]
            details += [
                InitErrorDetails(
                    type=PydanticCustomError("template", "{problem}", {"problem": problem}), loc=text.loc, input=None
                )
                for text, problem in refused
            ]
            raise ValidationError.from_exception_data(exc.title, details) from None

    return validate


def _again(error: ErrorDetails) -> InitErrorDetails:
    """A reported error as pydantic takes it to build a ValidationError again."""
    again = InitErrorDetails(type=error["type"], loc=error["loc"], input=error["input"])
    if "ctx" in error:
        again["ctx"] = error["ctx"]
    return again
