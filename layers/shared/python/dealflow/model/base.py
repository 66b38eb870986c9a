"""Shared pydantic configuration for every model at an edge (API bodies, stored items, events)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

# Ids are chosen by people (pipeline "sales", stage "won") or generated; either way they end up in
# DynamoDB keys and template variables, so keep them to a safe alphabet.
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


class Model(BaseModel):
    """Strict model: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=False)
