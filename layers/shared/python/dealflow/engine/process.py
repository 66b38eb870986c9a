"""Business processes run as durable steps: a walk over the process's tree of nodes.

Conditions, loops and variables are decided from the item and the variables as the steps left
them, so a replay takes the same branches without re-reading anything; reads, writes, sends and
the clock stay inside steps. Step names follow the node's place in the tree (``n1.b0.n2``, with
``.i3`` for a loop's fourth turn), so every operation keeps its name across replays.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from dealflow import clock
from dealflow.engine.actions import ActionError, Services
from dealflow.engine.changes import flat
from dealflow.engine.interpreter import Run, RunFailed, execute
from dealflow.language import templates
from dealflow.language.conditions import compile_condition
from dealflow.model import BusinessProcess, Deal, RunRequest, RunStep, Tenant, parse_item
from dealflow.model.automation import Condition, Delay
from dealflow.model.process import ActionNode, ConditionNode, DelayNode, LoopNode, Node, SetVariable
from dealflow.ports import Durable


class RunStopped(Exception):
    """The run ended early on purpose (cancelled or skipped); its record already says why."""


def facts(deal: Deal | None, variables: dict[str, Any], constants: dict[str, Any]) -> dict[str, Any]:
    """What a condition in a process sees: the item's fields, ``var.<name>`` and ``const.<name>``."""
    seen = flat(deal) or {}
    seen.update({f"var.{k}": v for k, v in variables.items()})
    seen.update({f"const.{k}": v for k, v in constants.items()})
    return seen


def delay_seconds(delay: Delay, deal: Deal, now: datetime) -> int:
    if delay.relative_to_field is None:
        return delay.seconds
    raw = deal.value(delay.relative_to_field)
    if not raw:
        raise ActionError(f"delay: the field '{delay.relative_to_field}' is empty")
    anchor = datetime.fromisoformat(str(raw))
    anchor = anchor if anchor.tzinfo else anchor.replace(tzinfo=UTC)
    return max(0, int((anchor + timedelta(seconds=delay.seconds) - now).total_seconds()))


class _Walk:
    def __init__(
        self, run: Run, durable: Durable, loaded: dict[str, Any], deal: Deal, variables: dict[str, Any]
    ) -> None:
        self.run, self.durable, self.loaded, self.deal, self.variables = run, durable, loaded, deal, variables
        # Typed again from the step's JSON: numbers must be Decimals, not the text JSON carried them as.
        self.constants = Tenant.model_validate(loaded["tenant"]).values("constants")

    def _record(self, name: str, kind: str, outcome: str, **detail: Any) -> None:
        self.run.steps.append(RunStep(name=name, kind=kind, outcome=outcome, detail=detail))  # type: ignore[arg-type]

    def _holds(self, condition: Condition) -> tuple[bool, list[dict[str, Any]]]:
        trace: list[dict[str, Any]] = []
        previous = self.run.request.previous
        before = facts(previous, self.variables, self.constants) if previous is not None else None
        now = facts(self.deal, self.variables, self.constants)
        return compile_condition(condition)(now, before, trace), trace

    def walk(self, nodes: list[Node], path: str) -> None:
        for position, node in enumerate(nodes):
            here = f"{path}n{position}"
            if isinstance(node, ActionNode):
                self.action(node, here)
            elif isinstance(node, ConditionNode):
                self.condition(node, here)
            elif isinstance(node, LoopNode):
                self.loop(node, here)
            elif isinstance(node, DelayNode):
                self.delay(node, here)
            else:
                self.set_variable(node, here)

    def action(self, node: ActionNode, here: str) -> None:
        name = f"{here}-{node.action.kind}"
        work = partial(
            self.run.perform, node.action, node.name or name, here, self.loaded, self.deal, variables=self.variables
        )
        try:
            outcome = self.durable.step(name, work, side_effect=True)
        except Exception as exc:  # the engine gave up retrying: record why, then fail the run
            self.durable.step(f"{here}-failed", partial(self.run.fail, node.name or name, str(exc)))
            raise RunFailed(f"{name}: {exc}") from exc
        self.run.steps.append(RunStep.model_validate(outcome["step"]))
        if "failed" in outcome:
            raise RunFailed(f"{name}: {outcome['failed']}")
        self.deal = parse_item(outcome["deal"])

    def condition(self, node: ConditionNode, here: str) -> None:
        seen = []
        for index, branch in enumerate(node.branches):
            holds, trace = self._holds(branch.condition)
            seen.append({"branch": branch.name, "result": holds, "conditions": trace})
            if holds:
                self._record(node.name or here, "condition", f"branch '{branch.name}'", branches=seen)
                self.walk(branch.nodes, f"{here}.b{index}.")
                return
        self._record(node.name or here, "condition", "otherwise" if node.otherwise else "no branch", branches=seen)
        self.walk(node.otherwise, f"{here}.o.")

    def loop(self, node: LoopNode, here: str) -> None:
        turns = 0
        while True:
            holds, trace = self._holds(node.while_)
            if not holds:
                self._record(node.name or here, "condition", f"loop ended after {turns} iteration(s)", conditions=trace)
                return
            if turns >= node.max_iterations:
                self._record(
                    node.name or here,
                    "condition",
                    "loop stopped",
                    reason=f"reached its cap of {node.max_iterations} iterations while its condition still held",
                    conditions=trace,
                )
                return
            self.walk(node.nodes, f"{here}.i{turns}.")
            turns += 1

    def _plan_delay(self, node: DelayNode) -> dict[str, Any]:
        now = clock.now()
        seconds = delay_seconds(node.delay, self.deal, now)
        wake_at = (now + timedelta(seconds=seconds)).isoformat(timespec="milliseconds") if seconds else None
        if seconds:
            self.run.wake_at = wake_at
            self.run.log("waiting")
        return {"seconds": seconds, "wake_at": wake_at}

    def delay(self, node: DelayNode, here: str) -> None:
        planned = self.durable.step(f"{here}-plan", partial(self._plan_delay, node))
        seconds = planned["seconds"]
        self.run.wake_at = planned["wake_at"]
        if seconds > 0:
            self.durable.wait(f"{here}-delay", seconds)
            checked = self.durable.step(f"{here}-check", partial(self.run.check, True))
            if not checked["proceed"]:
                raise RunStopped(checked["step"]["detail"].get("reason", ""))
            self.deal = parse_item(checked["deal"])
        self._record(node.name or here, "wait", "waited", seconds=seconds)

    def set_variable(self, node: SetVariable, here: str) -> None:
        value = node.value
        if node.expression is not None:
            scope = {"deal": flat(self.deal), "var": self.variables, "const": self.constants}
            value = templates.evaluate(node.expression, scope)
        self.variables[node.variable] = value
        if node.scope == "tenant":
            self.durable.step(
                f"{here}-set",
                partial(self.run.services.automation.set_variable, self.run.request.tenant_id, node.variable, value),
            )
        self._record(
            node.name or here,
            "action",
            "set",
            variable=node.variable,
            scope=node.scope,
            value=str(value) if value is not None else None,
        )


def execute_process(request: RunRequest, durable: Durable, services: Services) -> dict[str, Any]:
    process = request.automation
    assert isinstance(process, BusinessProcess)
    run = Run(request, services)
    run.execution_id = durable.execution_id
    loaded = durable.step("start", run.start)
    run.started_at = loaded["started_at"]
    checked = durable.step("check", partial(run.check, False))
    run.steps.append(RunStep.model_validate(checked["step"]))
    if not checked["proceed"]:
        return {"run_id": request.run_id, "status": "skipped"}
    tenant_variables = Tenant.model_validate(loaded["tenant"]).values("variables")
    defaults = {name: typed.value for name, typed in (process.parameters | process.variables).items()}
    variables = {**tenant_variables, **defaults, **request.parameters}
    # The process sees the item as the change that started it showed it ("on add": as added), even
    # if later changes are already stored; writes still apply to the stored item.
    walk = _Walk(run, durable, loaded, request.deal if checked["deal"] else parse_item(checked["deal"]), variables)
    try:
        walk.walk(process.nodes, "")
    except RunStopped:
        return {"run_id": request.run_id, "status": "stopped"}
    except templates.TemplateError as exc:
        durable.step("failed", partial(run.fail, "process", str(exc)))
        raise RunFailed(str(exc)) from exc
    durable.step("finish", run.finish)
    return {"run_id": request.run_id, "status": "completed"}


def execute_any(request: RunRequest, durable: Durable, services: Services) -> dict[str, Any]:
    """The runner's entry: a business process walks its tree, everything else runs as a rule."""
    if isinstance(request.automation, BusinessProcess):
        return execute_process(request, durable, services)
    return execute(request, durable, services)
