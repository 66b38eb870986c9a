"""pydantic models for everything that crosses an edge: API bodies, stored items, events.

Its names load with their modules when first used (PEP 562): a function that needs one model
(the run reconciler's run and job messages) does not import all of them, nor email-validator,
at its cold start (~250 ms; bench/README.md, "Cold start")."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dealflow.model.automation import (
        Action,
        Assign,
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
    from dealflow.model.conditions import AllOf, AnyOf, Clause, Condition
    from dealflow.model.deal import Causation, Contact, Deal, Lead, parse_item
    from dealflow.model.failures import RetryPolicy
    from dealflow.model.fields import STANDARD_FIELDS, FieldDefinition, FieldKind
    from dealflow.model.http_request import HttpRequest
    from dealflow.model.pipeline import Pipeline, Stage, StageSemantic
    from dealflow.model.process import BusinessProcess, Node
    from dealflow.model.run import RunError, RunRecord, RunRequest, RunStep, StageEntry
    from dealflow.model.tenant import Role, Tenant, TypedValue, User

_WHERE = {
    "Action": "dealflow.model.automation",
    "AllOf": "dealflow.model.conditions",
    "AnyOf": "dealflow.model.conditions",
    "Assign": "dealflow.model.automation",
    "Automation": "dealflow.model.catalog",
    "BusinessProcess": "dealflow.model.process",
    "Causation": "dealflow.model.deal",
    "Clause": "dealflow.model.conditions",
    "Condition": "dealflow.model.conditions",
    "Contact": "dealflow.model.deal",
    "CopyToPipeline": "dealflow.model.automation",
    "CreateTask": "dealflow.model.automation",
    "CreateWorkgroup": "dealflow.model.automation",
    "Deal": "dealflow.model.deal",
    "Delay": "dealflow.model.automation",
    "FieldDefinition": "dealflow.model.fields",
    "FieldKind": "dealflow.model.fields",
    "FieldValue": "dealflow.model.automation",
    "HttpRequest": "dealflow.model.http_request",
    "Lead": "dealflow.model.deal",
    "MoveToPipeline": "dealflow.model.automation",
    "MoveToStage": "dealflow.model.automation",
    "Node": "dealflow.model.process",
    "Notify": "dealflow.model.automation",
    "NotifyOnFailure": "dealflow.model.automation",
    "Pipeline": "dealflow.model.pipeline",
    "Recipients": "dealflow.model.automation",
    "RetryPolicy": "dealflow.model.failures",
    "Role": "dealflow.model.tenant",
    "Rule": "dealflow.model.automation",
    "RunError": "dealflow.model.run",
    "RunRecord": "dealflow.model.run",
    "RunRequest": "dealflow.model.run",
    "RunStep": "dealflow.model.run",
    "STANDARD_FIELDS": "dealflow.model.fields",
    "SendEmail": "dealflow.model.automation",
    "Stage": "dealflow.model.pipeline",
    "StageEntry": "dealflow.model.run",
    "StageSemantic": "dealflow.model.pipeline",
    "Tenant": "dealflow.model.tenant",
    "Trigger": "dealflow.model.automation",
    "Tunnel": "dealflow.model.automation",
    "TypedValue": "dealflow.model.tenant",
    "UpdateFields": "dealflow.model.automation",
    "User": "dealflow.model.tenant",
    "parse_item": "dealflow.model.deal",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "STANDARD_FIELDS",
    "Action",
    "AllOf",
    "AnyOf",
    "Assign",
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
    "HttpRequest",
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
