"""What every request body must be before a route reads it: a JSON object (or, where a route takes
it, a YAML one) within the bounds of what can be stored, and small enough to be stored at all.
Checked for every route by the resolver; YAML is read only for a body sent as YAML."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from dealflow.api.errors import Invalid, MalformedJson, MalformedYaml
from dealflow.http_errors import MAX_DEPTH, BadRequest, check_body, read_json

# DynamoDB items stop at 400 KB; a body that could never be stored is refused before it is parsed.
MAX_BODY = 350_000
YAML_TYPES = ("application/yaml", "text/yaml", "application/x-yaml")


def an_object_or_nothing(event: Mapping[str, Any]) -> None:
    """Every body the API takes is a JSON object within the bounds of what can be stored (nesting,
    numbers, text: ``read_json``). (powertools would take the first item of a JSON array for an
    object parameter, recurse until Python gives up on a deep one, and let a number too big for
    DynamoDB through to the write.)"""
    if not event.get("body"):
        return
    text = event["body"]
    if event.get("isBase64Encoded"):
        # API Gateway base64-encodes a body that is not UTF-8 text; no JSON is, so it is refused here
        # (powertools would fail decoding it: a 500).
        try:
            text = base64.b64decode(text).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise MalformedJson("the body is not UTF-8 text, so not JSON") from None
    try:
        parsed = _read_yaml(text) if _yaml_body(event) else read_json(text)
    except BadRequest as exc:
        raise (exc if _yaml_body(event) else MalformedJson(exc.reason, **exc.details)) from None
    if not isinstance(parsed, dict):
        raise Invalid.field("body", f"expected a JSON object, got {_JSON_TYPES.get(type(parsed), 'a value')}")


_JSON_TYPES = {list: "an array", str: "a string", Decimal: "a number", bool: "true or false", type(None): "null"}


def _yaml_body(event: Mapping[str, Any]) -> bool:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return str(headers.get("content-type", "")).split(";")[0].strip().lower() in YAML_TYPES


def _read_yaml(text: str) -> Any:
    """A YAML body (``POST /import``) checked as a JSON one is. Its events are read first: an alias
    can make a few bytes a billion nodes, and depth is counted before anything recurses."""
    import yaml  # only a body sent as YAML needs the parser

    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise MalformedYaml("the body uses a YAML alias (*name); write the value out instead")
            depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
            if depth > MAX_DEPTH:
                raise MalformedYaml(
                    f"the body is nested too deeply: at most {MAX_DEPTH} levels",
                    problems=[{"field": "body", "problem": f"nested deeper than {MAX_DEPTH} levels"}],
                )
        parsed = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise MalformedYaml(f"the body is not valid YAML: {exc}") from None
    check_body(parsed)
    return parsed
