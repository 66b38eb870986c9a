"""Every kind of automation, as one type: what a run carries and what storage holds."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from dealflow.model.automation import Rule, Trigger, Tunnel
from dealflow.model.fields import FieldDefinition
from dealflow.model.pipeline import Pipeline
from dealflow.model.process import BusinessProcess
from dealflow.model.workflow import FieldStepWorkflow

Automation = Annotated[Rule | Tunnel | Trigger | BusinessProcess, Field(discriminator="kind")]

# Everything a tenant defines and storage keeps one item each: pipelines, fields, automation, workflows.
Definition = Pipeline | FieldDefinition | Rule | Tunnel | Trigger | BusinessProcess | FieldStepWorkflow
