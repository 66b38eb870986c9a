"""What a run's durable steps record, and how large the durable engine finds it.

Everything a step returns is checkpointed: on AWS the SDK serialises it (JSON inside its own
envelope, escaped again), bills it and refuses a checkpoint over 256 KB — after the step's effect
happened. So step results hold values, versions and excerpts, never a whole deal, tenant or
rendered text (``dealflow.aws.checkpoints`` measures a result as the SDK stores it). Computed
values go through ``to_json`` / ``from_json`` so a replay gets back exactly what was computed.
"""

from __future__ import annotations

import base64
import json
import zlib
from datetime import date, datetime
from decimal import Decimal
from typing import Any

_DECIMAL = "$decimal"


def to_json(value: Any) -> Any:
    """A computed value as a step returns it: a Decimal keeps its exact digits (JSON would make it
    a float), dates become ISO text."""
    if isinstance(value, Decimal):
        return {_DECIMAL: str(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def from_json(value: Any) -> Any:
    """The value ``to_json`` recorded, as it was computed."""
    if isinstance(value, dict):
        if set(value) == {_DECIMAL}:
            return Decimal(value[_DECIMAL])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def packed(value: Any) -> str:
    """A JSON-ready value as compressed text (zlib, then base85: no character JSON escapes). For the
    start step's snapshot and automation — stage after stage, action after action of the same
    keys — it is about a third of what the SDK would checkpoint for the value itself, so a run's
    checkpoints stay small as its automation and the tenant's pipelines grow."""
    return base64.b85encode(zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 9)).decode()


def unpacked(text: str) -> Any:
    """The value ``packed`` compressed."""
    return json.loads(zlib.decompress(base64.b85decode(text)))
