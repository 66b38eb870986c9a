"""pydantic models for everything that crosses an edge: API bodies, stored items, events."""

from dealflow.model.automation import (
    Action,
    AllOf,
    AnyOf,
    Clause,
    Condition,
    CopyToPipeline,
    CreateTask,
    CreateWorkgroup,
    Delay,
    FieldValue,
    MoveToPipeline,
    MoveToStage,
    Notify,
    NotifyOnFailure,
    Recipients,
    Rule,
    SendEmail,
    Trigger,
    Tunnel,
    UpdateFields,
)
from dealflow.model.catalog import Automation
from dealflow.model.deal import Causation, Contact, Deal, Lead, parse_item
from dealflow.model.failures import RetryPolicy
from dealflow.model.fields import STANDARD_FIELDS, FieldDefinition, FieldKind
from dealflow.model.pipeline import Pipeline, Stage, StageSemantic
from dealflow.model.process import BusinessProcess, Node
from dealflow.model.run import RunError, RunRecord, RunRequest, RunStep, StageEntry
from dealflow.model.tenant import Role, Tenant, TypedValue, User

__all__ = [
    "STANDARD_FIELDS",
    "Action",
    "AllOf",
    "AnyOf",
    "Automation",
    "BusinessProcess",
    "Causation",
    "Clause",
    "Condition",
    "Contact",
    "CopyToPipeline",
    "CreateTask",
    "CreateWorkgroup",
    "Deal",
    "Delay",
    "FieldDefinition",
    "FieldKind",
    "FieldValue",
    "Lead",
    "MoveToPipeline",
    "MoveToStage",
    "Node",
    "Notify",
    "NotifyOnFailure",
    "Pipeline",
    "Recipients",
    "RetryPolicy",
    "Role",
    "Rule",
    "RunError",
    "RunRecord",
    "RunRequest",
    "RunStep",
    "SendEmail",
    "Stage",
    "StageEntry",
    "StageSemantic",
    "Tenant",
    "Trigger",
    "Tunnel",
    "TypedValue",
    "UpdateFields",
    "User",
    "parse_item",
]
