"""Stored items are read tolerantly, what callers send strictly: an attribute a newer version
added (at any depth) is ignored when read back, and still refused in a body."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dealflow.model import Pipeline, Tenant, parse_item
from dealflow.model.base import stored
from tests.fakes import a_tenant, some_pipelines

NEWER_DEAL: dict[str, Any] = {
    "tenant_id": "acme",
    "id": "d-1",
    "pipeline_id": "sales",
    "stage_id": "won",
    "title": "Website",
    "priority": "high",
    "contact": {"name": "Nora North", "linkedin": "nora-north"},
    "steps": {"qualify": {"by": "u-anna", "at": "2026-03-02T09:00:00+00:00", "source": "mobile"}},
}


def test_a_newer_tenant_and_pipeline_read_back_as_this_version_knows_them() -> None:
    tenant = a_tenant().model_dump(mode="json")
    newer = {**tenant, "billing_region": "eu", "users": [{**tenant["users"][0], "locale": "pl"}]}
    pipeline = some_pipelines()[0].model_dump(mode="json")
    newer_pipeline = {**pipeline, "color": "#2a6", "stages": [{**pipeline["stages"][0], "probability": 10}]}

    assert stored(Tenant, newer).users[0].id == "u-admin"
    assert stored(Pipeline, newer_pipeline).stages[0].id == "new"
    with pytest.raises(ValidationError, match="billing_region"):
        Tenant.model_validate(newer)  # what a caller sends stays strict


def test_a_newer_deal_reads_back() -> None:
    deal = parse_item(NEWER_DEAL)
    assert (deal.title, deal.contact and deal.contact.name, list(deal.steps)) == ("Website", "Nora North", ["qualify"])
