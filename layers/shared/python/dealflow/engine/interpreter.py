"""One run of one piece of automation, as durable steps.

The runner hands us a ``Durable`` (checkpointed steps and timers). Everything that touches the
outside world or the clock happens inside a step, so a replay after a wait or a crash sees the
same values and repeats no effect. Each step also rewrites the run's log record, so the log shows
a run as it progresses, including while it waits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from dealflow import clock
from dealflow.engine.actions import ActionContext, ActionError, Services, perform
from dealflow.engine.changes import flat, tenant_facts
from dealflow.engine.compiled import MAX_DEPTH
from dealflow.language.conditions import compile_condition
from dealflow.language.templates import TemplateError
from dealflow.model import (
    Action,
    BusinessProcess,
    Causation,
    Deal,
    FieldDefinition,
    Pipeline,
    RunRecord,
    RunRequest,
    RunStep,
    Tenant,
    Trigger,
    parse_item,
)
from dealflow.ports import Durable


class RunFailed(Exception):
    """A run ended in failure; its run-log record says why."""


def _now() -> datetime:
    return clock.now()


def _stamp(moment: datetime | None = None) -> str:
    return (moment or _now()).isoformat(timespec="milliseconds")


def _delay_seconds(request: RunRequest, now: datetime) -> tuple[int, str | None]:
    delay = request.automation.delay
    if delay is None:
        return 0, None
    if delay.relative_to_field is None:
        return delay.seconds, _stamp(now + timedelta(seconds=delay.seconds))
    raw = request.deal.value(delay.relative_to_field)
    if not raw:
        raise ActionError(f"delay: the deal's field '{delay.relative_to_field}' is empty")
    anchor = datetime.fromisoformat(str(raw))
    anchor = anchor if anchor.tzinfo else anchor.replace(tzinfo=UTC)
    wake = anchor + timedelta(seconds=delay.seconds)
    return max(0, int((wake - now).total_seconds())), _stamp(wake)


class Run:
    """The bookkeeping of one run: its request, what it has loaded, the steps so far."""

    def __init__(self, request: RunRequest, services: Services) -> None:
        self.request = request
        self.services = services
        self.steps: list[RunStep] = []
        self.started_at = ""
        self.wake_at: str | None = None
        self.execution_id: str | None = None

    def log(
        self, status: str, reason: str | None = None, finished: bool = False, new_step: RunStep | None = None
    ) -> None:
        """Rewrite the run's record. A step function passes its own step as ``new_step``; the
        caller appends it to ``steps`` from the step's (possibly replayed) result."""
        automation, req = self.request.automation, self.request
        self.services.runs.write(
            RunRecord(
                tenant_id=req.tenant_id,
                run_id=req.run_id,
                automation_id=automation.id,
                automation_name=automation.name,
                automation_kind=automation.kind,
                deal_id=req.target_id or req.deal.id,
                event_id=req.event_id,
                started_by=req.started_by.model_dump(mode="json", exclude_none=True),
                status=status,  # type: ignore[arg-type]
                reason=reason,
                steps=[*self.steps, *([new_step] if new_step else [])],
                started_at=self.started_at,
                wake_at=self.wake_at,
                finished_at=_stamp() if finished else None,
                execution_id=self.execution_id,
            )
        )

    # Each method below runs inside one durable step and returns only JSON-ready data.

    def start(self) -> dict[str, Any]:
        now = _now()
        self.started_at = _stamp(now)
        automation = self.services.automation.load(self.request.tenant_id)
        try:
            wait_seconds, self.wake_at = _delay_seconds(self.request, now)
        except (ActionError, ValueError) as exc:
            self.log("failed", reason=str(exc), finished=True)
            return {"started_at": self.started_at, "failed": str(exc)}
        self.log("waiting" if wait_seconds else "running")
        return {
            "started_at": self.started_at,
            "wait_seconds": wait_seconds,
            "wake_at": self.wake_at,
            "tenant": automation.tenant.model_dump(mode="json"),
            "pipelines": {pid: p.model_dump(mode="json") for pid, p in automation.pipelines.items()},
            "fields": {code: f.model_dump(mode="json") for code, f in automation.fields.items()},
        }

    def cancelled(self) -> str | None:
        """After a wait: the reason the run must not go on (its automation switched off), if any."""
        current = self.services.automation.load(self.request.tenant_id).by_id.get(self.request.automation.id)
        if current is None or not current.enabled:
            return "the automation was switched off while the run waited"
        return None

    def check(self, delayed: bool) -> dict[str, Any]:
        """Read the item as it is now. After a delay, the automation must still apply to it; a
        trigger's item must be in the trigger's pipeline and meet its condition."""
        automation = self.request.automation
        deal = self.services.deals.get(self.request.tenant_id, self.request.target_id or self.request.deal.id)
        trace: list[dict[str, Any]] = []

        def holds() -> bool:
            tenant = self.services.automation.load(self.request.tenant_id).tenant
            return compile_condition(automation.condition)({**(flat(deal) or {}), **tenant_facts(tenant)}, None, trace)

        entity = "lead" if self.request.target_id else "deal"
        outcome, reason = "skipped", None
        if delayed and (stopped := self.cancelled()):
            outcome, reason = "cancelled", stopped
        elif deal is None:
            outcome, reason = ("cancelled" if delayed else "skipped"), f"the {entity} was deleted"
        elif isinstance(automation, Trigger) and deal.pipeline_id != automation.pipeline_id:
            reason = f"the {entity} is in pipeline '{deal.pipeline_id}', not the trigger's '{automation.pipeline_id}'"
        elif isinstance(automation, Trigger) and self.request.target_id and not holds():
            reason = "the trigger's condition does not hold"
        elif (
            delayed
            and not isinstance(automation, BusinessProcess)
            and ((deal.pipeline_id, deal.stage_id) != (automation.pipeline_id, automation.stage_id))
        ):
            reason = f"the deal left stage '{automation.stage_id}' before the delay ended (now in '{deal.stage_id}')"
        elif delayed and not isinstance(automation, BusinessProcess) and not holds():
            reason = "the condition no longer held when the delay ended"
        else:
            outcome = "passed"
        step = RunStep(
            name="check",
            kind="check",
            outcome=outcome,
            at=_stamp(),
            detail={"reason": reason, "conditions": trace} if reason else {},
        )
        if reason:
            self.log(outcome, reason=reason, finished=True, new_step=step)
        return {
            "proceed": reason is None,
            "deal": deal.model_dump(mode="json") if deal else None,
            "step": step.model_dump(mode="json"),
        }

    def act(self, index: int, loaded: dict[str, Any], deal: Deal) -> dict[str, Any]:
        """One of a rule's (tunnel's, trigger's) actions."""
        actions = self.request.automation.effective_actions
        action = actions[index]
        return self.perform(
            action, f"action-{index + 1}-{action.kind}", str(index), loaded, deal, last=index == len(actions) - 1
        )

    def perform(
        self,
        action: Action,
        name: str,
        key: str,
        loaded: dict[str, Any],
        deal: Deal,
        *,
        last: bool = False,
        variables: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Carry out one action inside its step; a failure the automation's author must fix ends
        the run here, with the reason, rather than being retried."""
        request = self.request
        ctx = ActionContext(
            tenant=Tenant.model_validate(loaded["tenant"]),
            pipelines={pid: Pipeline.model_validate(p) for pid, p in loaded["pipelines"].items()},
            fields={c: FieldDefinition.model_validate(f) for c, f in loaded["fields"].items()},
            deal=deal,
            effect_key=f"{request.run_id}:{key}",
            services=self.services,
            variables=dict(variables or {}),
            causation=Causation(
                run_id=request.run_id,
                automation_id=request.automation.id,
                depth=request.depth,
                chain=[*request.chain, request.automation.id][-MAX_DEPTH:],
            ),
        )
        try:
            result = perform(action, ctx)
        except (ActionError, TemplateError) as exc:
            step = RunStep(name=name, kind="action", outcome="failed", at=_stamp(), detail={"error": str(exc)})
            self.log("failed", reason=f"{name}: {exc}", finished=True, new_step=step)
            return {"failed": str(exc), "step": step.model_dump(mode="json")}
        outcome = "duplicate" if result.get("duplicate") else "done"
        step = RunStep(name=name, kind="action", outcome=outcome, at=_stamp(), detail=result)
        self.log("completed" if last else "running", finished=last, new_step=step)
        return {"step": step.model_dump(mode="json"), "deal": ctx.deal.model_dump(mode="json")}

    def finish(self) -> None:
        self.log("completed", finished=True)

    def fail(self, name: str, error: str) -> None:
        step = RunStep(name=name, kind="action", outcome="failed", at=_stamp(), detail={"error": error})
        self.log("failed", reason=f"{name}: {error}", finished=True, new_step=step)


def execute(request: RunRequest, durable: Durable, services: Services) -> dict[str, Any]:
    """Run one piece of automation: wait out its delay, check it still applies, perform its actions."""
    run = Run(request, services)
    run.execution_id = durable.execution_id
    loaded = durable.step("start", run.start)
    run.started_at, run.wake_at = loaded["started_at"], loaded.get("wake_at")
    if "failed" in loaded:
        raise RunFailed(loaded["failed"])
    if loaded["wait_seconds"] > 0:
        durable.wait("delay", loaded["wait_seconds"])
        run.steps.append(
            RunStep(
                name="delay",
                kind="wait",
                outcome="waited",
                at=loaded["wake_at"],
                detail={"seconds": loaded["wait_seconds"]},
            )
        )
    checked = durable.step("check", partial(run.check, loaded["wait_seconds"] > 0))
    run.steps.append(RunStep.model_validate(checked["step"]))
    if not checked["proceed"]:
        return {"run_id": request.run_id, "status": "skipped"}
    deal = parse_item(checked["deal"])
    for index, action in enumerate(request.automation.effective_actions):
        name = f"action-{index + 1}-{action.kind}"
        try:
            outcome = durable.step(name, partial(run.act, index, loaded, deal), side_effect=True)
        except Exception as exc:  # the engine gave up retrying: record why, then fail the run
            durable.step("failed", partial(run.fail, name, str(exc)))
            raise RunFailed(f"{name}: {exc}") from exc
        run.steps.append(RunStep.model_validate(outcome["step"]))
        if "failed" in outcome:
            raise RunFailed(f"{name}: {outcome['failed']}")
        deal = parse_item(outcome["deal"])
    return {"run_id": request.run_id, "status": "completed"}
