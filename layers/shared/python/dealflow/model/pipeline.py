"""Pipelines (sales funnels) and their ordered stages."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from dealflow.model.base import Id, Model


class StageSemantic(StrEnum):
    IN_PROGRESS = "in_progress"
    WON = "won"
    LOST = "lost"


class Step(Model):
    """One checklist item of a stage's sales process ("send the proposal", "agree the scope")."""

    id: Id
    name: str = Field(min_length=1, max_length=200)


class Stage(Model):
    id: Id
    name: str = Field(min_length=1, max_length=200)
    semantic: StageSemantic = StageSemantic.IN_PROGRESS
    steps: list[Step] = Field(default_factory=list, description="The stage's checklist; ids unique in the pipeline")


class Pipeline(Model):
    id: Id
    name: str = Field(min_length=1, max_length=200)
    entity: Literal["deal", "lead"] = Field(default="deal", description="Deals or leads move through it")
    stages: list[Stage] = Field(min_length=1)
    version: int = Field(default=1, ge=1, description="The version read (1 for a new one); a write since then is a 409")

    @model_validator(mode="after")
    def _unique_stages(self) -> Pipeline:
        ids = [s.id for s in self.stages]
        if len(ids) != len(set(ids)):
            raise ValueError("stages: stage ids must be unique within a pipeline")
        # A deal records done steps by id alone, whatever stage it is in: ids must not repeat.
        step_ids = [step.id for s in self.stages for step in s.steps]
        if len(step_ids) != len(set(step_ids)):
            raise ValueError("stages: step ids must be unique within a pipeline")
        return self

    def stage(self, stage_id: str) -> Stage | None:
        return next((s for s in self.stages if s.id == stage_id), None)

    def step(self, step_id: str) -> Step | None:
        return next((step for s in self.stages for step in s.steps if step.id == step_id), None)

    def position(self, stage_id: str) -> int:
        """Index of a stage in the pipeline's order; -1 when the stage is not in it."""
        return next((i for i, s in enumerate(self.stages) if s.id == stage_id), -1)
