"""The one interpreter: a run of any automation — rule, tunnel, trigger, business process — walked
as durable steps over the node tree it compiles to (``dealflow.engine.compile_run``).

The runner hands us a ``Durable`` (checkpointed steps and timers); test mode hands us one that
runs steps at once. Everything that touches the outside world or the clock happens inside a step,
so a replay after a wait or a crash sees the same values and repeats no effect. Branches, loops
and variables are decided between steps from what the steps returned, so a replay takes the same
path and names the same operations. Each step also rewrites the run's log record.

Failure handling lives here once: a delay that cannot be worked out, a template that does not
render, an action the automation's author must fix, the engine giving up on a step, an error in
the walker itself between steps — each ends the run ``failed``, with a step named after the node
(or ``start`` / ``finish``) and a reason, whatever the automation's kind. A request that cannot be
read at all is filed by ``dealflow.engine.run_failures``, as are executions the durable engine
ends without the runner (timed out, stopped).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NoReturn

from pydantic import ValidationError

from dealflow import clock
from dealflow.engine.actions import ActionContext, ActionError, Services, perform
from dealflow.engine.changes import flat, tenant_facts
from dealflow.engine.checkpoints import from_json, to_json
from dealflow.engine.compile_run import compile_run
from dealflow.engine.compiled import MAX_DEPTH
from dealflow.engine.delays import DelayError, seconds_until, wake_moment
from dealflow.engine.nodes import Act, Check, Choose, Delay, Loop, Node, RunPlan, SetVariable, StepKind
from dealflow.engine.run_failures import readable, record_unreadable
from dealflow.engine.run_record import RunBook, bounded, stamp
from dealflow.engine.run_start import Snapshot, planned, snapshot
from dealflow.language import templates
from dealflow.language.conditions import compile_condition
from dealflow.model import Causation, Deal, RunRequest, RunStep, Tenant
from dealflow.model.automation import Action, Condition
from dealflow.model.catalog import Automation
from dealflow.model.run import RunStatus
from dealflow.ports import Durable

# What each step returns (a checkpoint: small, whatever the tenant, the deal or the texts):
# start: {started_at, wait_seconds, wake_at, snapshot} or {started_at, failed, step?} or
# {started_at, gone, step}; check: {proceed, step, seen?}; an action: {step, seen?} or
# {failed, step}; a delay's plan: {seconds, wake_at} or {failed, step}; a set_variable: {value} or
# {error}. ``seen`` holds only the item's fields that conditions read and that changed.


class RunEnded(Exception):
    """The walk ends before its last node; the run's record already says why."""


class RunFailed(RunEnded):
    """A run ended in failure; its run-log record says why."""


class RunStopped(RunEnded):
    """A check stopped the run on purpose (``skipped`` before anything ran, else ``stopped``)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def facts(seen: dict[str, Any], variables: dict[str, Any], constants: dict[str, Any]) -> dict[str, Any]:
    """What a branch's or loop's condition sees: the item's fields, ``var.<name>``, ``const.<name>``."""
    found = dict(seen)
    found.update({f"var.{k}": v for k, v in variables.items()})
    found.update({f"const.{k}": v for k, v in constants.items()})
    return found


def _label(node: Node, prefix: str) -> str:
    return node.name or f"{prefix}{node.at}"


class Walker:
    """One run: walks the compiled tree, keeping the item, the variables and the run's record."""

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

    def run(self) -> dict[str, Any]:
        try:
            self._start()
            self._walk(self.plan.nodes, "")
            if self.plan.finish is not None:
                self.at = ("finish", "check")
                self.durable.step(self.plan.finish, self.book.finish)
        except RunStopped as stop:
            return {"run_id": self.request.run_id, "status": stop.status}
        except RunEnded:
            raise
        except Exception as exc:  # the walker itself, or a step outside any node that ran out of retries
            if self.durable.owns(exc):
                raise
            self._fail(*self.at, "failed", readable(exc))
        return {"run_id": self.request.run_id, "status": "completed"}

    # Between steps: deciding, from what the steps returned.

    def _start(self) -> None:
        try:
            loaded = self.durable.step("start", self._start_step)
        except Exception as exc:  # the engine gave up on reading the tenant's automation
            if self.durable.owns(exc):
                raise
            self._fail("start", "check", "failed", readable(exc))
        self.book.started_at = loaded["started_at"]
        if "gone" in loaded:
            self.book.steps.append(RunStep.model_validate(loaded["step"]))
            raise RunStopped("skipped")
        self._ended_in_step(loaded)
        if self.automation is None:  # a replay: the saved version is immutable, read it again
            self.automation = planned(self.services.automation, self.request)
            if self.automation is None:
                self._fail("start", "check", "failed", self._gone())
            self.plan = compile_run(self.automation)
        if loaded["wait_seconds"]:
            self.book.wake_at = loaded["wake_at"]
        self.leading = {"seconds": loaded["wait_seconds"], "wake_at": loaded["wake_at"]}
        self.snapshot = Snapshot(loaded["snapshot"])
        self.constants = self.snapshot.tenant.values("constants")
        tenant_variables = self.snapshot.tenant.values("variables")
        self.variables = {**tenant_variables, **self.plan.variables, **self.request.parameters}

    def _gone(self) -> str:
        ref = self.request.automation
        return f"automation '{ref.id}' version {ref.version} is no longer stored"

    def _walk(self, nodes: tuple[Node, ...], prefix: str) -> None:
        for node in nodes:
            try:
                self._visit(node, prefix)
            except RunEnded:
                raise
            except Exception as exc:  # a template that fails, or the engine giving up on a step
                if self.durable.owns(exc):
                    raise
                self._fail(_label(node, prefix), node.kind, prefix + node.failed, readable(exc))

    def _visit(self, node: Node, prefix: str) -> None:
        match node:
            case Check():
                self._check(node, prefix)
            case Delay():
                self._delay(node, prefix)
            case Act():
                self._act(node, prefix)
            case Choose():
                self._choose(node, prefix)
            case Loop():
                self._loop(node, prefix)
            case SetVariable():
                self._set_variable(node, prefix)

    def _fail(self, name: str, kind: StepKind, operation: str, error: str) -> NoReturn:
        try:
            self.durable.step(operation, partial(self.book.fail, name, kind, error))
        except Exception as exc:  # not even the record could be written: the run still ends here, once
            if self.durable.owns(exc):
                raise
            raise RunFailed(f"{name}: {error} (the run log could not be written: {readable(exc)})") from exc
        raise RunFailed(f"{name}: {error}")

    def _ended_in_step(self, outcome: dict[str, Any]) -> None:
        """A step that ended the run in failure (it wrote the record) returned its failed step."""
        if "failed" not in outcome:
            return
        if "step" not in outcome:
            raise RunFailed(outcome["failed"])
        step = RunStep.model_validate(outcome["step"])
        self.book.steps.append(step)
        raise RunFailed(f"{step.name}: {outcome['failed']}")

    def _note(self, node: Node, prefix: str, outcome: str, **detail: Any) -> None:
        self.book.steps.append(RunStep(name=_label(node, prefix), kind=node.kind, outcome=outcome, detail=detail))

    def _holds(self, condition: Condition) -> tuple[bool, list[dict[str, Any]]]:
        trace: list[dict[str, Any]] = []
        now, before = self._as_changed(facts(self.seen, self.variables, self.constants))
        return compile_condition(condition)(now, before, trace), trace

    def _as_changed(self, now: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The facts a condition reads: the item as it is, but the fields its ``changed*`` clauses
        compare as the change that started the run left them, and as they were before it."""
        now = {**now, **self.changed}
        return now, ({**now, **self.previous} if self.previous is not None else None)

    def _check(self, node: Check, prefix: str) -> None:
        if node.only_after_wait and not self.waited:
            return
        first = not self.checked
        checked = self.durable.step(prefix + node.step, partial(self._check_step, node, self.waited))
        self.book.steps.append(RunStep.model_validate(checked["step"]))
        self.checked, self.waited = True, False
        if not checked["proceed"]:
            raise RunStopped("skipped" if first else "stopped")
        self.seen.update(from_json(checked.get("seen", {})))

    def _delay(self, node: Delay, prefix: str) -> None:
        label = _label(node, prefix)
        planned = self.leading
        if node.plan is not None:
            planned = self.durable.step(prefix + node.plan, partial(self._plan_step, node, label))
        self._ended_in_step(planned)
        seconds, wake_at = planned["seconds"], planned["wake_at"]
        if seconds > 0:
            self.book.wake_at = wake_at
            self.durable.wait(prefix + node.wait, seconds)
            self.waited = True
        self.book.steps.append(
            RunStep(name=label, kind="wait", outcome="waited", at=wake_at, detail={"seconds": seconds})
        )

    def _act(self, node: Act, prefix: str) -> None:
        work = partial(self._perform, node.action, _label(node, prefix), prefix + node.key, node.closes_run)
        outcome = self.durable.step(prefix + node.at, work, side_effect=True)
        self._ended_in_step(outcome)
        self.book.steps.append(RunStep.model_validate(outcome["step"]))
        self.seen.update(from_json(outcome.get("seen", {})))

    def _choose(self, node: Choose, prefix: str) -> None:
        here, seen = prefix + node.at, []
        for index, branch in enumerate(node.branches):
            holds, trace = self._holds(branch.condition)
            seen.append({"branch": branch.name, "result": holds, "conditions": trace})
            if holds:
                self._note(node, prefix, f"branch '{branch.name}'", branches=seen)
                self._walk(branch.nodes, f"{here}.b{index}.")
                return
        self._note(node, prefix, "otherwise" if node.otherwise else "no branch", branches=seen)
        self._walk(node.otherwise, f"{here}.o.")

    def _loop(self, node: Loop, prefix: str) -> None:
        turns = 0
        while True:
            holds, trace = self._holds(node.condition)
            if not holds:
                self._note(node, prefix, f"loop ended after {turns} iteration(s)", conditions=trace)
                return
            if turns >= node.max_iterations:
                reason = f"reached its cap of {node.max_iterations} iterations while its condition still held"
                self._note(node, prefix, "loop stopped", reason=reason, conditions=trace)
                return
            self._walk(node.nodes, f"{prefix}{node.at}.i{turns}.")
            turns += 1

    def _set_variable(self, node: SetVariable, prefix: str) -> None:
        value = node.value
        if node.step is not None:  # computed (or stored) inside a step: a replay takes the recorded value
            done = self.durable.step(prefix + node.step, partial(self._set_step, node))
            if "error" in done:
                raise templates.TemplateError(done["error"])
            value = from_json(done["value"])
        self.variables[node.variable] = value
        shown = str(value) if value is not None else None
        self._note(
            node, prefix, "set", variable=node.variable, scope="tenant" if node.store else "process", value=shown
        )

    # Inside steps: reading, writing, the clock. Each returns JSON-ready data only.

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
            planned_wait = self._plan(lead, _label(lead, ""), item)
            if "failed" in planned_wait:
                return {"started_at": self.book.started_at, **planned_wait}
            started |= {"wait_seconds": planned_wait["seconds"], "wake_at": planned_wait["wake_at"]}
            self.book.wake_at = planned_wait["wake_at"] if planned_wait["seconds"] else None
        self.book.write("waiting" if started["wait_seconds"] else "running")
        compiled = self.services.automation.load(self.request.tenant_id)
        return started | {"snapshot": snapshot(self.automation, compiled, item)}

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

    def _plan(self, node: Delay, label: str, item: Deal | None) -> dict[str, Any]:
        now = clock.now()
        if item is None:  # nothing to wait for: the check after it ends the run, saying why
            return {"seconds": 0, "wake_at": stamp(now)}
        try:
            wake = wake_moment(node.delay, item, now)
        except DelayError as exc:
            return {"failed": str(exc), "step": self.book.fail(label, "wait", str(exc)).model_dump(mode="json")}
        return {"seconds": seconds_until(wake, now), "wake_at": stamp(wake)}

    def _plan_step(self, node: Delay, label: str) -> dict[str, Any]:
        planned_wait = self._plan(node, label, self._item_now())
        if planned_wait.get("seconds"):
            self.book.wake_at = planned_wait["wake_at"]
            self.book.write("waiting")
        return planned_wait

    def _switched_off(self) -> str | None:
        current = self.services.automation.load(self.request.tenant_id).by_id.get(self.request.automation.id)
        if current is None or not current.enabled:
            return "the automation was switched off while the run waited"
        return None

    def _check_step(self, node: Check, delayed: bool) -> dict[str, Any]:
        """Read the item as it is now; after a wait the automation must still apply to it, and a
        trigger's item must be in the trigger's pipeline (and, when it is not the changed item,
        meet the trigger's condition)."""
        request = self.request
        item = self._item_now()
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
        detail = {"reason": reason, "conditions": trace} if reason else {}
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


def execute_any(request: RunRequest, durable: Durable, services: Services) -> dict[str, Any]:
    """One run of any automation, on a deal or a lead, as durable steps."""
    return Walker(request, durable, services).run()


def execute_event(event: Any, durable: Durable, services: Services) -> dict[str, Any]:
    """The runner's entry: the run a request describes. A request that cannot be read fails its run
    with the reason, under whatever tenant, deal and automation it still shows."""
    try:
        request = RunRequest.model_validate(event)
    except ValidationError as exc:
        raise RunFailed(record_unreadable(event, exc, services.runs, durable)) from None
    return execute_any(request, durable, services)
