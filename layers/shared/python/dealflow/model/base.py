"""Shared pydantic configuration for every model at an edge (API bodies, stored items, events)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints

# Ids are chosen by people (pipeline "sales", stage "won") or generated; either way they end up in
# DynamoDB keys and template variables, so keep them to a safe alphabet.
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")

M = TypeVar("M", bound=BaseModel)


class Model(BaseModel):
    """Strict model: unknown fields are an error, not silently dropped (what a caller sends; what
    storage holds is read with ``stored``).

    Each model's validator is built when the model is first validated, not when its module is
    imported (``defer_build``): a function builds those of the models its path uses, and the
    dispatcher, which reads a tenant's automation, never the API's or a business process's it has
    none of (1.9 MB less at its first batch, bench/dispatcher_rss.py ``--profile``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=False, defer_build=True)


def stored(model: type[M], item: Mapping[str, Any]) -> M:
    """``item`` as read back from storage: attributes this version does not know, at any depth,
    are ignored rather than refused. A newer version may have written them while runs of an older
    one still wait (durable executions stay on the version they started on) or after a rollback;
    strictness stays with what callers send."""
    return model.model_validate(item, extra="ignore")
