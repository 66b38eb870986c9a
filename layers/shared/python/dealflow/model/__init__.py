"""pydantic models for everything that crosses an edge: API bodies, stored items, events."""

from dealflow.model.automation import (
    Action,
    AllOf,
    AnyOf,
    Clause,
    Condition,
    CreateTask,
    CreateWorkgroup,
    Delay,
    FieldValue,
    MoveToStage,
    Notify,
    Recipients,
    Rule,
    SendEmail,
    UpdateFields,
)
from dealflow.model.deal import Causation, Contact, Deal
from dealflow.model.fields import STANDARD_FIELDS, FieldDefinition, FieldKind
from dealflow.model.pipeline import Pipeline, Stage, StageSemantic
from dealflow.model.run import RunRecord, RunRequest, RunStep, StageEntry
from dealflow.model.tenant import Role, Tenant, User

__all__ = [
    "STANDARD_FIELDS", "Action", "AllOf", "AnyOf", "Causation", "Clause", "Condition", "Contact",
    "CreateTask", "CreateWorkgroup", "Deal", "Delay", "FieldDefinition", "FieldKind", "FieldValue",
    "MoveToStage", "Notify", "Pipeline", "Recipients", "Role", "Rule", "RunRecord", "RunRequest",
    "RunStep", "SendEmail", "Stage", "StageEntry", "StageSemantic", "Tenant", "UpdateFields", "User",
]
