"""The work a run does inside its durable steps: reading the automation's saved version, the item
and the tenant, performing actions, planning waits, writing the run log. Each step returns
JSON-ready data only, and only what the walk needs to decide between steps
(``dealflow.engine.interpreter``): never the whole deal, the tenant or a rendered text — each
result is checkpointed, billed and capped at 256 KB on AWS.
"""

from __future__ import annotations

from typing import Any

from dealflow import clock
from dealflow.engine.actions import ActionContext, ActionError, Services, perform
from dealflow.engine.changes import flat, tenant_facts
from dealflow.engine.checkpoints import from_json, packed, to_json
from dealflow.engine.compile_run import compile_run
from dealflow.engine.compiled import MAX_DEPTH
from dealflow.engine.delays import DelayError, seconds_until, wake_moment
from dealflow.engine.nodes import Check, Delay, Node, RunPlan, SetVariable, StepKind
from dealflow.engine.run_record import RunBook, bounded, stamp
from dealflow.engine.run_start import Snapshot, planned, recorded, snapshot
from dealflow.language import templates
from dealflow.language.conditions import compile_condition
from dealflow.model import Causation, Deal, RunRequest, RunStep, Tenant
from dealflow.model.automation import Action
from dealflow.model.catalog import Automation
from dealflow.model.run import RunStatus
from dealflow.ports import Durable


def label(node: Node, prefix: str) -> str:
    """A node's name in the run log."""
    return node.name or f"{prefix}{node.at}"


class RunSteps:
    """A run's state, and the work done inside its steps."""

    def __init__(self, request: RunRequest, durable: Durable, services: Services) -> None:
        self.request, self.durable, self.services = request, durable, services
        self.item_id = request.target_id or request.deal_id
        self.automation: Automation | None = None  # loaded by the start step (or, on replay, after it)
        self.plan = RunPlan(())
        self.book = RunBook(request, services.runs, durable.execution_id)
        # Where the walk stands between nodes: the step a failure outside any node is filed under.
        self.at: tuple[str, StepKind] = ("start", "check")
        # The item's fields that conditions read, as steps recorded them: all the walk keeps of it.
        self.seen: dict[str, Any] = {}
        # The change that started the run, for changed / changed_from / changed_to: the compared
        # fields as it left them, and as they were before it (None: the item was new).
        self.changed = from_json(request.changed)
        self.previous = from_json(request.previous) if request.previous is not None else None
        self.waited = False  # since the last check: the next check must re-check
        self.checked = False
        self.variables: dict[str, Any] = {}
        self.constants: dict[str, Any] = {}
        self.snapshot: Snapshot | None = None
        self.leading: dict[str, Any] = {}  # a leading delay, as the start step planned it
        self.checked_at_start: dict[str, Any] | None = None  # the first check, made by the start step

    def _gone(self) -> str:
        ref = self.request.automation
        return f"automation '{ref.id}' version {ref.version} is no longer stored"

    def _as_changed(self, now: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The facts a condition reads: the item as it is, but the fields its ``changed*`` clauses
        compare as the change that started the run left them, and as they were before it."""
        now = {**now, **self.changed}
        return now, ({**now, **self.previous} if self.previous is not None else None)

    def _item_now(self) -> Deal | None:
        return self.services.deals.get(self.request.tenant_id, self.item_id)

    def _seen_changes(self, item: Deal | None) -> dict[str, Any]:
        """Of the fields conditions read, those whose value differs from what the walk has seen."""
        now = flat(item) or {}
        return to_json({k: now.get(k) for k in self.plan.reads if k not in self.seen or now.get(k) != self.seen[k]})

    def _start_step(self) -> dict[str, Any]:
        now = clock.now()
        self.book.started_at = stamp(now)
        self.automation = planned(self.services.automation, self.request)
        started: dict[str, Any] = {"started_at": self.book.started_at, "wait_seconds": 0, "wake_at": None}
        if self.automation is None:
            reason = self._gone()
            step = RunStep(name="start", kind="check", outcome="skipped", at=stamp(), detail={"reason": reason})
            self.book.write("skipped", reason=reason, finished=True, new_step=step)
            return started | {"gone": reason, "step": step.model_dump(mode="json")}
        self.plan = compile_run(self.automation)
        item = self._item_now()
        lead = self.plan.nodes[0] if self.plan.nodes else None
        if isinstance(lead, Delay) and lead.plan is None:  # planned here: one checkpoint fewer
            planned_wait = self._plan(lead, label(lead, ""), item)
            if "failed" in planned_wait:
                return {"started_at": self.book.started_at, **planned_wait}
            started |= {"wait_seconds": planned_wait["seconds"], "wake_at": planned_wait["wake_at"]}
            self.book.wake_at = planned_wait["wake_at"] if planned_wait["seconds"] else None
        self.book.write("waiting" if started["wait_seconds"] else "running")
        compiled = self.services.automation.load(self.request.tenant_id)
        # What a replay needs and may not read outside a step (the tenant's part the run uses, the
        # automation itself when small), compressed: most of the run's checkpointed bytes.
        kept = {"snapshot": snapshot(self.automation, compiled, item), "automation": recorded(self.automation)}
        started["kept"] = packed(kept)
        first = self.plan.checked_at_start
        if first is not None:  # a durable operation (and its checkpoint) fewer per run
            started["check"] = self._check_step(first, False, item)
        return started

    def _set_step(self, node: SetVariable) -> dict[str, Any]:
        value = node.value
        if node.expression is not None:
            scope = {"deal": flat(self._item_now()), "var": self.variables, "const": self.constants}
            try:
                value = templates.evaluate(node.expression, scope)
            except templates.TemplateError as exc:  # the author's to fix: retrying cannot help
                return {"error": str(exc)}
        if node.store:
            self.services.automation.set_variable(self.request.tenant_id, node.variable, value)
        return {"value": to_json(value)}

    def _plan(self, node: Delay, name: str, item: Deal | None) -> dict[str, Any]:
        now = clock.now()
        if item is None:  # nothing to wait for: the check after it ends the run, saying why
            return {"seconds": 0, "wake_at": stamp(now)}
        try:
            wake = wake_moment(node.delay, item, now)
        except DelayError as exc:
            return {"failed": str(exc), "step": self.book.fail(name, "wait", str(exc)).model_dump(mode="json")}
        return {"seconds": seconds_until(wake, now), "wake_at": stamp(wake)}

    def _plan_step(self, node: Delay, name: str) -> dict[str, Any]:
        planned_wait = self._plan(node, name, self._item_now())
        if planned_wait.get("seconds"):
            self.book.wake_at = planned_wait["wake_at"]
            self.book.write("waiting")
        return planned_wait

    def _switched_off(self) -> str | None:
        current = self.services.automation.load(self.request.tenant_id).by_id.get(self.request.automation.id)
        if current is None or not current.enabled:
            return "the automation was switched off while the run waited"
        return None

    def _check_step(self, node: Check, delayed: bool, item: Deal | None = None) -> dict[str, Any]:
        """Read the item as it is now (unless the start step just read it); after a wait the
        automation must still apply to it, and a trigger's item must be in the trigger's pipeline
        (and, when it is not the changed item, meet the trigger's condition)."""
        request = self.request
        item = item if item is not None else self._item_now()
        trace: list[dict[str, Any]] = []

        def holds() -> bool:
            # The item as it is now; before the change that started the run, as the request recorded it.
            now = {**(flat(item) or {}), **tenant_facts(self.services.automation.load(request.tenant_id).tenant)}
            if request.target_id:  # the condition is about another item than the one that changed
                return compile_condition(node.condition)(now, None, trace)
            return compile_condition(node.condition)(*self._as_changed(now), trace)

        entity = "lead" if request.target_id else request.entity
        ended: RunStatus = "skipped"  # how the run ends when the check gives a reason to stop it
        reason: str | None = None
        if delayed and (stopped := self._switched_off()):
            ended, reason = "cancelled", stopped
        elif item is None:
            ended, reason = ("cancelled" if delayed else "skipped"), f"the {entity} was deleted"
        elif node.trigger_pipeline_id and item.pipeline_id != node.trigger_pipeline_id:
            reason = f"the {entity} is in pipeline '{item.pipeline_id}', not the trigger's '{node.trigger_pipeline_id}'"
        elif node.trigger_pipeline_id and request.target_id and not holds():
            reason = "the trigger's condition does not hold"
        elif delayed and node.stage and (item.pipeline_id, item.stage_id) != node.stage:
            reason = f"the {entity} left stage '{node.stage[1]}' before the delay ended (now in '{item.stage_id}')"
        elif delayed and node.condition is not None and not holds():
            reason = "the condition no longer held when the delay ended"
        detail = bounded({"reason": reason, "conditions": trace}) if reason else {}
        outcome = ended if reason else "passed"
        step = RunStep(name=node.name or "check", kind="check", outcome=outcome, at=stamp(), detail=detail)
        if reason:
            self.book.write(ended, reason=reason, finished=True, new_step=step)
        checked: dict[str, Any] = {"proceed": reason is None, "step": step.model_dump(mode="json")}
        if reason is None and self.plan.reads:
            checked["seen"] = self._seen_changes(item)
        return checked

    def _perform(self, action: Action, name: str, key: str, closes_run: bool) -> dict[str, Any]:
        """Carry out one action; a failure the automation's author must fix ends the run here,
        with the reason, rather than being retried."""
        request, kept = self.request, self.snapshot
        assert kept is not None and self.automation is not None
        item = self._item_now()
        if item is None:
            error = f"the {'lead' if request.target_id else request.entity} no longer exists"
            return {"failed": error, "step": self.book.fail(name, "action", error).model_dump(mode="json")}
        ctx = ActionContext(
            tenant=self._tenant_for(item),
            pipelines=kept.pipelines,
            fields=kept.fields,
            deal=item,
            effect_key=f"{request.run_id}:{key}",
            services=self.services,
            variables=dict(self.variables),
            causation=Causation(
                run_id=request.run_id,
                automation_id=self.automation.id,
                depth=request.depth,
                chain=[*request.chain, request.automation.id][-MAX_DEPTH:],
            ),
        )
        try:
            result = perform(action, ctx)
        except (ActionError, templates.TemplateError) as exc:
            return {"failed": str(exc), "step": self.book.fail(name, "action", str(exc)).model_dump(mode="json")}
        outcome = "duplicate" if result.get("duplicate") else "done"
        step = RunStep(name=name, kind="action", outcome=outcome, at=stamp(), detail=bounded(result))
        self.book.write_after_effect("completed" if closes_run else "running", closes_run, step)
        done: dict[str, Any] = {"step": step.model_dump(mode="json")}
        if self.plan.reads and (seen := self._seen_changes(ctx.deal)):
            done["seen"] = seen
        return done

    def _tenant_for(self, item: Deal) -> Tenant:
        """The snapshot's tenant, with the item's responsible user when it changed since the start."""
        assert self.snapshot is not None
        tenant, responsible = self.snapshot.tenant, item.responsible_id
        if responsible and tenant.user(responsible) is None:
            user = self.services.automation.load(tenant.id).tenant.user(responsible)
            if user is not None:
                return tenant.model_copy(update={"users": [*tenant.users, user]})
        return tenant
