"""Field–step workflows (as in Livespace): a custom field of the deal linked with a step of a
pipeline's sales process. Filling the field marks the step done; marking the step makes the
field required."""

from __future__ import annotations

from pydantic import Field

from dealflow.model.base import Id, Model


class FieldStepWorkflow(Model):
    id: Id
    name: str = Field(min_length=1, max_length=200)
    field_code: str = Field(min_length=1, max_length=64, description="A custom field of the tenant")
    pipeline_id: Id
    step_id: Id = Field(description="A step of one of the pipeline's stages")
    enabled: bool = True
    version: int = Field(default=1, ge=1, description="The version read (1 for a new one); bumped on every write")

    @property
    def marker(self) -> str:
        """What a deal's step records as having marked it."""
        return f"workflow:{self.id}"
