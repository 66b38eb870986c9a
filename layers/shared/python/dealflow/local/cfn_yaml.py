"""Load a CloudFormation / SAM template written in YAML into plain Python data.

PyYAML's ``SafeLoader`` rejects CloudFormation's short-form tags (``!Ref``, ``!GetAtt``, ``!Sub``...)
and turns ``AWSTemplateFormatVersion: 2010-09-09`` into a ``datetime.date``. This loader maps
every short tag to its long ``Fn::`` form (what CloudFormation, samtranslator and cfn-lint accept
as JSON), keeps dates as strings, and refuses duplicate keys (CloudFormation would silently keep
one of them). Used by the template tests and by the local (moto) harness.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CfnLoader", "load_template", "loads_template"]

# short tag -> long form key. Every one of them wraps its argument unchanged, except !GetAtt.
_FUNCTIONS = {
    "!Ref": "Ref",
    "!Condition": "Condition",
    "!Sub": "Fn::Sub",
    "!If": "Fn::If",
    "!Join": "Fn::Join",
    "!Select": "Fn::Select",
    "!Split": "Fn::Split",
    "!Equals": "Fn::Equals",
    "!FindInMap": "Fn::FindInMap",
    "!ImportValue": "Fn::ImportValue",
    "!Base64": "Fn::Base64",
    "!Not": "Fn::Not",
    "!And": "Fn::And",
    "!Or": "Fn::Or",
    "!GetAZs": "Fn::GetAZs",
    "!Cidr": "Fn::Cidr",
    "!Transform": "Fn::Transform",
    "!Length": "Fn::Length",
    "!ToJsonString": "Fn::ToJsonString",
    "!ForEach": "Fn::ForEach",
}


class CfnLoader(yaml.SafeLoader):
    """SafeLoader + CloudFormation short tags, no timestamp resolution, no duplicate keys."""


# Keep ``2010-09-09`` and ISO timestamps as strings, as CloudFormation does.
CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _node_value(loader: CfnLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _function(key: str) -> Callable[[CfnLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
        return {key: _node_value(loader, node)}

    return construct


def _get_att(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
    value = _node_value(loader, node)
    if isinstance(value, str):
        # "Resource.Attribute" or "Resource.Outputs.Name": split on the first dot only.
        resource, dot, attribute = value.partition(".")
        if not dot:
            raise yaml.constructor.ConstructorError(
                None, None, f"!GetAtt expects 'Resource.Attribute', got {value!r}", node.start_mark
            )
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


def _mapping_without_duplicates(loader: CfnLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


CfnLoader.construct_mapping = _mapping_without_duplicates
for _tag, _key in _FUNCTIONS.items():
    CfnLoader.add_constructor(_tag, _function(_key))
CfnLoader.add_constructor("!GetAtt", _get_att)


def loads_template(text: str) -> dict[str, Any]:
    """Parse template text; returns the template as a dict with long-form intrinsics."""
    data = yaml.load(text, Loader=CfnLoader)  # CfnLoader is a SafeLoader: no arbitrary objects
    if not isinstance(data, dict):
        raise ValueError("a CloudFormation template must be a mapping at the top level")
    return data


def load_template(path: str | Path) -> dict[str, Any]:
    """Read and parse a CloudFormation/SAM YAML (or JSON) template file."""
    return loads_template(Path(path).read_text(encoding="utf-8"))
