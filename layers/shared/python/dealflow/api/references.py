"""References checked before anything is written: a rule, tunnel or trigger names a pipeline and a
stage that exist, a tunnel's target too; a stage move stays in the rule's pipeline; conditions
test standard or existing custom fields; messages go to users of the tenant. Each problem names
the field as the caller wrote it (``actions.0.to.users.1``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from dealflow.api.errors import Invalid
from dealflow.dispatch import TenantAutomation
from dealflow.model import STANDARD_FIELDS, AllOf, AnyOf, BusinessProcess, Clause, Pipeline, Rule, Trigger, Tunnel
from dealflow.model.catalog import Automation


class _Problems:
    def __init__(self, known: TenantAutomation) -> None:
        self.known = known
        self.found: list[dict[str, str]] = []

    def add(self, field: str, problem: str) -> None:
        self.found.append({"field": field, "problem": problem})

    def raise_any(self) -> None:
        if self.found:
            raise Invalid(self.found)

    def pipeline(self, at: str, pipeline_id: str | None) -> Pipeline | None:
        if pipeline_id is None:
            return None
        found = self.known.pipelines.get(pipeline_id)
        if found is None:
            self.add(at, f"no pipeline '{pipeline_id}' in this tenant")
        return found

    def stage(self, at: str, pipeline: Pipeline | None, stage_id: str) -> None:
        if pipeline is not None and pipeline.stage(stage_id) is None:
            self.add(at, f"no stage '{stage_id}' in pipeline '{pipeline.id}'")

    def field(self, at: str, name: str) -> None:
        if name.startswith(("var.", "const.")) or name in STANDARD_FIELDS or name in self.known.fields:
            return
        self.add(at, f"no field '{name}' (neither a standard deal field nor a custom field of this tenant)")

    def user(self, at: str, user_id: str) -> None:
        if self.known.tenant.user(user_id) is None:
            self.add(at, f"no user '{user_id}' in this tenant")

    def condition(self, at: str, condition: Any) -> None:
        if isinstance(condition, Clause):
            self.field(f"{at}.field", condition.field)
        elif isinstance(condition, AllOf | AnyOf):
            key = "all" if isinstance(condition, AllOf) else "any"
            for i, inner in enumerate(getattr(condition, key)):
                self.condition(f"{at}.{key}.{i}", inner)

    def action(self, at: str, action: BaseModel, pipeline: Pipeline | None) -> None:
        to = getattr(action, "to", None)
        if to is not None:
            for i, user_id in enumerate(to.users):
                self.user(f"{at}.to.users.{i}", user_id)
        for key in ("assignee_id", "owner_id"):
            if getattr(action, key, None):
                self.user(f"{at}.{key}", getattr(action, key))
        for i, user_id in enumerate(getattr(action, "members", []) or []):
            self.user(f"{at}.members.{i}", user_id)
        kind = getattr(action, "kind", "")
        if kind == "move_to_stage":
            self.stage(f"{at}.stage_id", pipeline, action.stage_id)  # type: ignore[attr-defined]
        elif kind in ("copy_to_pipeline", "move_to_pipeline"):
            target = self.pipeline(f"{at}.pipeline_id", action.pipeline_id)  # type: ignore[attr-defined]
            self.stage(f"{at}.stage_id", target, action.stage_id)  # type: ignore[attr-defined]
        elif kind == "update_fields":
            for name in action.values:  # type: ignore[attr-defined]
                self.field(f"{at}.values.{name}", name)

    def nodes(self, at: str, nodes: list[Any], pipeline: Pipeline | None) -> None:
        for i, node in enumerate(nodes):
            here = f"{at}.{i}"
            if node.kind == "action":
                self.action(f"{here}.action", node.action, pipeline)
            elif node.kind == "condition":
                for j, branch in enumerate(node.branches):
                    self.condition(f"{here}.branches.{j}.condition", branch.condition)
                    self.nodes(f"{here}.branches.{j}.nodes", branch.nodes, pipeline)
                self.nodes(f"{here}.otherwise", node.otherwise, pipeline)
            elif node.kind == "loop":
                self.condition(f"{here}.while", node.while_)
                self.nodes(f"{here}.nodes", node.nodes, pipeline)


def check_automation(automation: Automation, known: TenantAutomation) -> None:
    """Raise Invalid naming every reference of ``automation`` that does not resolve."""
    problems = _Problems(known)
    pipeline = problems.pipeline("pipeline_id", automation.pipeline_id)
    if isinstance(automation, BusinessProcess):
        if pipeline is not None and pipeline.entity != automation.entity:
            problems.add("pipeline_id", f"pipeline '{pipeline.id}' holds {pipeline.entity}s, not {automation.entity}s")
        problems.nodes("nodes", automation.nodes, pipeline)
        problems.raise_any()
        return
    problems.stage("stage_id", pipeline, automation.stage_id)
    problems.condition("condition", automation.condition)
    if isinstance(automation, Tunnel):
        target = problems.pipeline("target_pipeline_id", automation.target_pipeline_id)
        problems.stage("target_stage_id", target, automation.target_stage_id)
    elif isinstance(automation, Trigger):
        if automation.field:
            problems.field("field", automation.field)
    elif isinstance(automation, Rule):
        for i, action in enumerate(automation.actions):
            problems.action(f"actions.{i}", action, pipeline)
    problems.raise_any()


def check_deal(known: TenantAutomation, *, place: tuple[str, str, str] | None = None,
               responsible_id: str | None = None, fields: dict[str, Any] | None = None) -> None:
    """Raise Invalid naming every problem of a deal write: ``place`` is (entity, pipeline, stage)
    it goes to, ``responsible_id`` a user of the tenant, ``fields`` existing custom fields (a list
    field's value one of its options)."""
    problems = _Problems(known)
    if place is not None:
        entity, pipeline_id, stage_id = place
        pipeline = problems.pipeline("pipeline_id", pipeline_id)
        if pipeline is not None and pipeline.entity != entity:
            problems.add("pipeline_id", f"pipeline '{pipeline_id}' holds {pipeline.entity}s, not {entity}s")
        problems.stage("stage_id", pipeline, stage_id)
    if responsible_id is not None:
        problems.user("responsible_id", responsible_id)
    for code, value in (fields or {}).items():
        definition = known.fields.get(code)
        if definition is None:
            problems.add(f"fields.{code}", f"no custom field '{code}' in this tenant")
        elif value is not None and definition.options and value not in definition.options:
            problems.add(f"fields.{code}", f"'{value}' is not one of {', '.join(definition.options)}")
    problems.raise_any()


def automation_using_stages(known: TenantAutomation, pipeline_id: str, stage_ids: set[str]) -> dict[str, str]:
    """Automation (id → stage) that would dangle if ``stage_ids`` left ``pipeline_id``."""
    using: dict[str, str] = {}
    for automation in known.by_id.values():
        places = []
        if not isinstance(automation, BusinessProcess):
            places.append((automation.pipeline_id, automation.stage_id))
        if isinstance(automation, Tunnel):
            places.append((automation.target_pipeline_id, automation.target_stage_id))
        if isinstance(automation, Rule):
            for action in automation.actions:
                if action.kind == "move_to_stage":
                    places.append((automation.pipeline_id, action.stage_id))
                elif action.kind in ("copy_to_pipeline", "move_to_pipeline"):
                    places.append((action.pipeline_id, action.stage_id))
        for place_pipeline, stage_id in places:
            if place_pipeline == pipeline_id and stage_id in stage_ids:
                using[automation.id] = stage_id
    return using
