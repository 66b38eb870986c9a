"""Every kind of automation as the one node tree the interpreter walks (``dealflow.engine.nodes``).

A rule, tunnel or trigger: its delay (worked out by the run's start step), the check (after a wait
it re-checks stage and condition), then its effective actions, the last of which closes the run;
durable steps ``start``, ``delay``, ``check``, ``action-1-send_email``, …, ``failed``. A business
process: the check, then its tree, then ``finish``; its steps are named after each node's place
(``n0-send_email``, ``n1.b0.n0-plan``, ``n1.b0.n0-delay``, ``n1.b0.n0-check``, ``n0-failed``); an
action's fault branch is walked under ``n0.f.`` (``n0.f.n0-notify_on_failure``), and a failure the
run handles after the engine gave up on the step is recorded by ``n0-send_email-error``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from dealflow.engine.nodes import Act, Branch, Check, Choose, Delay, Loop, Node, RunPlan, SetVariable, WaitFor
from dealflow.language.conditions import CHANGE_OPERATORS, referenced_fields
from dealflow.model import process as model
from dealflow.model.automation import Trigger
from dealflow.model.calendar import CalendarOf
from dealflow.model.catalog import Automation
from dealflow.model.conditions import AllOf, AnyOf, Clause, Condition
from dealflow.model.process import BusinessProcess


def compile_run(automation: Automation) -> RunPlan:
    """The node tree one run of ``automation`` walks."""
    if isinstance(automation, BusinessProcess):
        return _process(automation)
    return _rule(automation)


def _rule(automation: Automation) -> RunPlan:
    assert not isinstance(automation, BusinessProcess)
    nodes: list[Node] = []
    if automation.delay is not None:
        nodes.append(Delay(at="delay", delay=automation.delay, wait="delay", failed="failed"))
    trigger = isinstance(automation, Trigger)
    check = Check(
        step="check",
        failed="failed",
        stage=None if trigger else (automation.pipeline_id, automation.stage_id),
        condition=automation.condition,
        trigger_pipeline_id=automation.pipeline_id if trigger else None,
    )
    nodes.append(check)
    actions = automation.effective_actions
    for index, action in enumerate(actions):
        if action.within_working_hours is not None:
            at = f"action-{index + 1}"
            nodes.append(_hold(at, action.within_working_hours, "failed"))
            # After the hold, the rule must still apply, as after its delay.
            nodes.append(replace(check, step=f"{at}-check", only_after_wait=True))
        nodes.append(
            Act(
                at=f"action-{index + 1}-{action.kind}",
                action=action,
                key=str(index),
                failed="failed",
                closes_run=index == len(actions) - 1,
            )
        )
    return RunPlan(tuple(nodes))


def _hold(at: str, calendar: CalendarOf, failed: str) -> Delay:
    """An action held until working time opens: a wait planned in its own step (``<at>-hold-plan``),
    none when working time is open, then the check after a wait (``<at>-check``)."""
    return Delay(f"{at}-hold", None, wait=f"{at}-hold", failed=failed, plan=f"{at}-hold-plan", hold=calendar)


def _process(process: BusinessProcess) -> RunPlan:
    defaults = {name: typed.value for name, typed in (process.parameters | process.variables).items()}
    entry = Check(step="check", failed="failed")
    reads = frozenset(
        name
        for clause in _clauses_of(process)
        for name in referenced_fields(clause)
        if not name.startswith(("var.", "const."))
    )
    return RunPlan((entry, *_tree(process.nodes)), finish="finish", variables=defaults, reads=reads)


def _clauses(condition: Condition | None) -> list[Clause]:
    if condition is None:
        return []
    if isinstance(condition, Clause):
        return [condition]
    inner = condition.all if isinstance(condition, AllOf) else condition.any if isinstance(condition, AnyOf) else []
    return [clause for c in inner for clause in _clauses(c)]


def _node_clauses(nodes: Sequence[model.Node]) -> list[Clause]:
    found: list[Clause] = []
    for node in nodes:
        if isinstance(node, model.ConditionNode):
            for branch in node.branches:
                found += _clauses(branch.condition) + _node_clauses(branch.nodes)
            found += _node_clauses(node.otherwise)
        elif isinstance(node, model.LoopNode):
            found += _clauses(node.while_) + _node_clauses(node.nodes)
        elif isinstance(node, model.ActionNode):
            found += _node_clauses(node.fault)
        elif isinstance(node, model.WaitForNode):
            found += _node_clauses(node.received) + _node_clauses(node.timed_out)
    return found


def wait_fors(nodes: Sequence[model.Node]) -> list[model.WaitForNode]:
    """Every ``wait_for`` node of a process's tree, however deep."""
    found: list[model.WaitForNode] = []
    for node in nodes:
        if isinstance(node, model.ConditionNode):
            for branch in node.branches:
                found += wait_fors(branch.nodes)
            found += wait_fors(node.otherwise)
        elif isinstance(node, model.LoopNode):
            found += wait_fors(node.nodes)
        elif isinstance(node, model.ActionNode):
            found += wait_fors(node.fault)
        elif isinstance(node, model.WaitForNode):
            found += [node, *wait_fors(node.received), *wait_fors(node.timed_out)]
    return found


def _clauses_of(automation: Automation) -> list[Clause]:
    if isinstance(automation, BusinessProcess):
        return _clauses(automation.condition) + _node_clauses(automation.nodes)
    return _clauses(automation.condition)


def compared_fields(automation: Automation) -> frozenset[str]:
    """The fields whose value before the change some condition of ``automation`` compares with
    (``changed``, ``changed_from``, ``changed_to``): all of the old item a run request carries."""
    return frozenset(c.field for c in _clauses_of(automation) if c.op in CHANGE_OPERATORS)


def _tree(nodes: Sequence[model.Node]) -> tuple[Node, ...]:
    compiled: list[Node] = []
    for position, node in enumerate(nodes):
        at = f"n{position}"
        failed = f"{at}-failed"
        if isinstance(node, model.ActionNode):
            if node.action.within_working_hours is not None:
                compiled.append(_hold(at, node.action.within_working_hours, failed))
                compiled.append(Check(step=f"{at}-hold-check", failed=failed, only_after_wait=True))
            fault = _tree(node.fault)
            act = Act(f"{at}-{node.action.kind}", node.action, key=at, failed=failed, name=node.name, fault=fault)
            compiled.append(act)
        elif isinstance(node, model.DelayNode):
            compiled.append(Delay(at, node.delay, wait=f"{at}-delay", failed=failed, plan=f"{at}-plan", name=node.name))
            compiled.append(Check(step=f"{at}-check", failed=failed, only_after_wait=True))
        elif isinstance(node, model.ConditionNode):
            branches = tuple(Branch(b.name, b.condition, _tree(b.nodes)) for b in node.branches)
            compiled.append(Choose(at, branches, _tree(node.otherwise), failed=failed, name=node.name))
        elif isinstance(node, model.WaitForNode):
            check = Check(step=f"{at}-check", failed=failed, only_after_wait=True, forgets_waiter=True)
            until = node.until.model_dump(mode="json", exclude_none=True)
            compiled.append(
                WaitFor(
                    at,
                    until,
                    node.timeout.seconds,
                    callback=f"{at}-callback",
                    register=f"{at}-register",
                    check=check,
                    received=_tree(node.received),
                    timed_out=_tree(node.timed_out),
                    failed=failed,
                    name=node.name,
                )
            )
        elif isinstance(node, model.LoopNode):
            loop = Loop(at, node.while_, node.max_iterations, _tree(node.nodes), failed=failed, name=node.name)
            compiled.append(loop)
        else:
            store = node.scope == "tenant"
            step = f"{at}-set" if store or node.expression is not None else None
            variable = SetVariable(
                at, node.variable, node.value, node.expression, failed, step=step, store=store, name=node.name
            )
            compiled.append(variable)
    return tuple(compiled)
