"""Bodies the API takes and gives that are not domain models themselves: what a person may send
to create or change a deal (never the tenant, the version counter or engine bookkeeping), list
envelopes, test-mode requests. Domain models (``Pipeline``, ``FieldDefinition``, ``Automation``,
``Deal``, ``RunRecord``) are the schema everywhere else."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from dealflow.model import Contact, Deal, FieldDefinition, Lead, Pipeline, RunRecord
from dealflow.model.base import Id, Model
from dealflow.model.catalog import Automation
from dealflow.model.deal import DealValues
from dealflow.moves import Selection, Target

Item = Annotated[Deal | Lead, Field(discriminator="entity")]
AutomationKind = Literal["rule", "tunnel", "trigger", "business_process"]


class PipelineList(Model):
    items: list[Pipeline]


class FieldList(Model):
    items: list[FieldDefinition]


class AutomationList(Model):
    items: list[Automation]


class RunList(Model):
    items: list[RunRecord]


class Switched(Model):
    automation: Automation
    cancelled_runs: list[str] = Field(description="Waiting runs stopped because the automation was switched off")


class Deleted(Model):
    id: str
    cancelled_runs: list[str]


class NewDeal(DealValues):
    """A deal or lead to create in the caller's tenant."""

    entity: Literal["deal", "lead"] = "deal"
    id: Id | None = Field(default=None, description="Chosen by the caller, or generated")
    lead_id: Id | None = None


class DealUpdate(Model):
    """Standard fields to change and custom fields to set (null removes one); ``version`` is the
    one the caller read — someone else's write since then makes this a 409."""

    version: int = Field(ge=1)
    title: str | None = Field(default=None, min_length=1, max_length=500)
    amount: Decimal | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    responsible_id: Id | None = None
    contact: Contact | None = None
    company: str | None = Field(default=None, max_length=200)
    fields: dict[str, Any] = Field(default_factory=dict)


class StageMove(Model):
    stage_id: Id
    pipeline_id: Id | None = Field(default=None, description="Another pipeline of the same entity (default: the same)")
    version: int | None = Field(default=None, ge=1, description="When given, a write since this version is a 409")


class DryRunRequest(Model):
    """Test mode on a stored deal (``deal_id``) or on a deal described here (``deal``), never both."""

    deal_id: Id | None = None
    deal: NewDeal | None = None

    @model_validator(mode="after")
    def _one(self) -> DryRunRequest:
        if (self.deal_id is None) == (self.deal is None):
            raise ValueError("deal_id: give either deal_id or deal")
        return self


class AutomationCopy(Model):
    """Where a copy goes (default: where the original is), under which id (default: made from the
    original's), name and switch (default: the original's)."""

    pipeline_id: Id | None = None
    stage_id: Id | None = None
    entity: Literal["deal", "lead"] | None = Field(default=None, description="Business processes without a pipeline")
    id: Id | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None


class AutomationMove(Model):
    pipeline_id: Id | None = None
    stage_id: Id | None = None
    entity: Literal["deal", "lead"] | None = Field(default=None, description="Business processes without a pipeline")
    version: int | None = Field(default=None, ge=1, description="When given, a write since this version is a 409")


class BulkRequest(Model):
    """One operation on automation named by ``ids`` or chosen by ``select``; copy and move need a ``target``."""

    operation: Literal["copy", "move", "enable", "disable", "delete"]
    ids: list[Id] | None = None
    select: Selection | None = None
    target: Target | None = None

    @model_validator(mode="after")
    def _complete(self) -> BulkRequest:
        if (self.ids is None) == (self.select is None):
            raise ValueError("ids: give either ids or select")
        if self.operation in ("copy", "move") and self.target is None:
            raise ValueError(f"target: required to {self.operation}")
        return self


class BulkResult(Model):
    operation: str
    changed: list[Automation] = Field(description="Automation as written: copies, moved or switched ones")
    deleted: list[str]
    cancelled_runs: list[str] = Field(description="Waiting runs stopped because their automation went off or away")
