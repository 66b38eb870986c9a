"""The export document as JSON or YAML text, and back, with decimals exact both ways.

Python's json and PyYAML write a float, which keeps 17 significant digits: a constant of
0.12345678901234567890 would come back as 0.12345678901234568. Here a decimal is written digit for
digit as a plain number (never in exponent form, which YAML would read as text), and numbers with a
fraction are read back as ``Decimal``."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml


def _number(value: Decimal) -> str:
    return format(value, "f")


def to_json(document: Any) -> str:
    """``document`` (dicts, lists, text, numbers, booleans, None) as JSON, decimals exact."""
    if isinstance(document, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {to_json(v)}" for k, v in document.items()) + "}"
    if isinstance(document, list):
        return "[" + ", ".join(to_json(v) for v in document) + "]"
    if isinstance(document, Decimal):
        return _number(document)
    return json.dumps(document)


def from_json(text: str) -> Any:
    """JSON text with every number that has a fraction or exponent read as an exact ``Decimal``;
    ValueError when it is not JSON."""
    return json.loads(text, parse_float=Decimal)


class _Dumper(yaml.SafeDumper):
    pass


class _Loader(yaml.SafeLoader):
    pass


def _represent_decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:float", _number(value))


def _construct_float(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    assert isinstance(node, yaml.ScalarNode)
    text = str(loader.construct_scalar(node))
    try:
        return Decimal(text.replace("_", ""))
    except InvalidOperation:  # .inf, .nan, sexagesimal: as YAML reads them (the model refuses them)
        return loader.construct_yaml_float(node)


_Dumper.add_representer(Decimal, _represent_decimal)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def to_yaml(document: Any) -> str:
    """``document`` as YAML in its own key order, decimals exact."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def from_yaml(text: str) -> Any:
    """YAML text (safe tags only) with numbers that have a fraction read as exact ``Decimal``;
    yaml.YAMLError when it is not YAML."""
    return yaml.load(text, Loader=_Loader)
