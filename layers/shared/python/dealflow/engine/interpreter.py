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
(or ``start`` / ``finish``) and a reason, whatever the automation's kind. An action may instead
have the run handle its failure (``on_error: continue``, a process action's fault branch): the
step is recorded failed, the failure joins the run's ``errors`` (templates read it as
``run.error``), the fault branch is walked, and the run goes on or ends failed, handled. An
action's step is tried as its ``retry`` policy says (the durable engine's step retries). A request that cannot be
read at all is filed by ``dealflow.engine.run_failures``, as are executions the durable engine
ends without the runner (timed out, stopped).
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any, NoReturn

from pydantic import ValidationError

from dealflow.engine.actions import Services
from dealflow.engine.attempts import earlier_errors, tries
from dealflow.engine.checkpoints import from_json, unpacked
from dealflow.engine.compile_run import compile_run
from dealflow.engine.nodes import Act, Check, Choose, Delay, Loop, Node, SetVariable, StepKind, WaitFor
from dealflow.engine.run_ends import RunEnded, RunFailed, RunStopped
from dealflow.engine.run_failures import readable, record_unreadable
from dealflow.engine.run_record import bounded
from dealflow.engine.run_start import Snapshot, replayed
from dealflow.engine.run_steps import RunSteps, label, position
from dealflow.engine.waiting import describe, duration
from dealflow.language import templates
from dealflow.language.conditions import compile_condition
from dealflow.model import RunError, RunRequest, RunStep
from dealflow.model.conditions import Condition
from dealflow.ports import Durable

# What each step returns (a checkpoint: small, whatever the tenant, the deal or the texts):
# start: {started_at, wait_seconds, wake_at, kept, check?} (``kept``: the snapshot and the
# automation, packed; ``check``: the run's first check, when no wait comes before it) or
# {started_at, failed, step?} or
# {started_at, gone, step}; check: {proceed, step, seen?}; an action: {step, seen?} or
# {failed, step}; a delay's plan: {seconds, wake_at} or {failed, step}; a set_variable: {value} or
# {error}. ``seen`` holds only the item's fields that conditions read and that changed.


def facts(seen: dict[str, Any], variables: dict[str, Any], constants: dict[str, Any]) -> dict[str, Any]:
    """What a branch's or loop's condition sees: the item's fields, ``var.<name>``, ``const.<name>``."""
    found = dict(seen)
    found.update({f"var.{k}": v for k, v in variables.items()})
    found.update({f"const.{k}": v for k, v in constants.items()})
    return found


class Walker(RunSteps):
    """One run: walks the compiled tree, deciding between steps from what the steps recorded."""

    def run(self) -> dict[str, Any]:
        try:
            self._start()
            self._note_retry()
            self._walk(self.plan.nodes, "")
            if self.resume_at is not None:
                self._fail(
                    "start", "check", "failed", f"the retry's starting point '{self.resume_at}' is not in the tree"
                )
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
        kept = unpacked(loaded["kept"])
        if self.automation is None:  # a replay: the recorded automation, or its immutable saved version
            self.automation = replayed(kept, self.services.automation, self.request)
            if self.automation is None:
                self._fail("start", "check", "failed", self._gone())
            self.plan = compile_run(self.automation)
        if loaded["wait_seconds"]:
            self.book.wake_at = loaded["wake_at"]
        self.leading = {"seconds": loaded["wait_seconds"], "wake_at": loaded["wake_at"]}
        if "until" in loaded:
            self.leading["until"] = loaded["until"]
        self.checked_at_start = loaded.get("check")
        self.snapshot = Snapshot(kept["snapshot"])
        self.constants = self.snapshot.tenant.values("constants")
        tenant_variables = self.snapshot.tenant.values("variables")
        self.variables = {**tenant_variables, **self.plan.variables, **self.request.parameters}

    def _walk(self, nodes: tuple[Node, ...], prefix: str) -> None:
        for node in nodes:
            here = position(node, prefix)
            if not self._resumes(here):
                self._pass_over(node, prefix)
                continue
            self.book.position = here
            try:
                self._visit(node, prefix)
            except RunEnded:
                raise
            except Exception as exc:  # a template that fails, or the engine giving up on a step
                if self.durable.owns(exc):
                    raise
                self.book.position = here
                tried = isinstance(node, Act)  # an action's step: the failed step says how often it was tried
                self._fail(label(node, prefix), node.kind, prefix + node.failed, readable(exc), tried)

    # A retry from the failed step, or an early resume, walks to ``resume_at`` without doing what
    # the run it retries did: the nodes before it are passed over, and the branch or loop turn that
    # holds it is entered as that run entered it (its place names them: ``n1.b0.``, ``n2.i3.``).

    def _note_retry(self) -> None:
        retried = self.request.retry_of
        if retried is None:
            return
        if self.resume_at is None:
            detail = {"retry_of": retried, "from": "start", "effects": "those already done are not repeated"}
            outcome = "retried from the start"
        else:
            detail = {"retry_of": retried, "from": self.resume_at, "before": f"done by run {retried}: passed over"}
            outcome = "resumed early" if self.request.resume_after_wait else f"retried from {self.resume_at}"
        self.book.steps.append(RunStep(name="retry", kind="check", outcome=outcome, detail=detail))

    def _resumes(self, here: str) -> bool:
        """Whether the walk does the node at ``here``: always, unless it lies before ``resume_at``."""
        target = self.resume_at
        if target is None:
            return True
        if target == here:
            self.resume_at, self.wait_over = None, self.request.resume_after_wait
            return True
        return target.startswith(here + ".")  # the branch or the loop that holds it

    def _resumed_part(self, here: str) -> str | None:
        """Inside the branch or loop at ``here``, the part that holds ``resume_at`` (``b0``, ``o``, ``i3``)."""
        if self.resume_at is None or not self.resume_at.startswith(here + "."):
            return None
        return self.resume_at[len(here) + 1 :].split(".", 1)[0]

    def _pass_over(self, node: Node, prefix: str) -> None:
        """A node the run retried did: nothing is done again. A process variable is still set (its
        value is the run's own, no effect); a tenant variable that run stored is already the tenant's."""
        if isinstance(node, Check):
            self.checked = True
        elif isinstance(node, SetVariable) and not node.store:
            self._set_variable(node, prefix)

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
            case WaitFor():
                self._wait_for(node, prefix)

    def _fail(self, name: str, kind: StepKind, operation: str, error: str, tried: bool = False) -> NoReturn:
        try:
            self.durable.step(operation, partial(self._fail_step, name, kind, error, tried))
        except Exception as exc:  # not even the record could be written: the run still ends here, once
            if self.durable.owns(exc):
                raise
            raise RunFailed(f"{name}: {error} (the run log could not be written: {readable(exc)})") from exc
        raise RunFailed(f"{name}: {error}")

    def _fail_step(self, name: str, kind: StepKind, error: str, tried: bool) -> RunStep:
        if not tried:
            return self.book.fail(name, kind, error)
        errors = earlier_errors(self.book, name)
        return self.book.fail(
            name, kind, error, detail=tries(max((e.get("attempt", 0) for e in errors), default=1), errors)
        )

    def _ended_in_step(self, outcome: dict[str, Any]) -> None:
        """A step that ended the run in failure (it wrote the record) returned its failed step."""
        if "failed" not in outcome:
            return
        if "step" not in outcome:
            raise RunFailed(outcome["failed"])
        step = RunStep.model_validate(outcome["step"])
        self.book.steps.append(step)
        raise RunFailed(f"{step.name}: {outcome['failed']}")

    def _stop_if_ended(self, outcome: dict[str, Any]) -> None:
        """A step found the automation's goal met or one of its exits: the run ends so (the step
        wrote the record)."""
        if "ended" in outcome:
            self.book.steps.append(RunStep.model_validate(outcome["step"]))
            raise RunStopped(outcome["ended"])

    def _note(self, node: Node, prefix: str, outcome: str, **detail: Any) -> None:
        self.book.steps.append(
            RunStep(name=label(node, prefix), kind=node.kind, outcome=outcome, detail=bounded(detail))
        )

    def _holds(self, condition: Condition) -> tuple[bool, list[dict[str, Any]]]:
        trace: list[dict[str, Any]] = []
        now, before = self._as_changed(facts(self.seen, self.variables, self.constants))
        return compile_condition(condition)(now, before, trace), trace

    def _check(self, node: Check, prefix: str) -> None:
        if node.only_after_wait and not self.waited:
            return
        first = not self.checked
        if first and not self.waited and self.checked_at_start is not None:
            checked, self.checked_at_start = self.checked_at_start, None
        else:
            checked = self.durable.step(prefix + node.step, partial(self._check_step, node, self.waited))
        self.book.steps.append(RunStep.model_validate(checked["step"]))
        self.checked, self.waited = True, False
        if not checked["proceed"]:
            raise RunStopped(checked.get("ended") or ("skipped" if first else "stopped"))
        self.seen.update(from_json(checked.get("seen", {})))

    def _delay(self, node: Delay, prefix: str) -> None:
        name = label(node, prefix)
        if self.wait_over:  # resumed early: the wait counts as over, what follows it re-checks
            self.wait_over, self.waited = False, True
            self.book.steps.append(RunStep(name=name, kind="wait", outcome="resumed early", detail={"seconds": 0}))
            return
        wait = self.leading
        if node.plan is not None:
            wait = self.durable.step(prefix + node.plan, partial(self._plan_step, node, name))
        self._ended_in_step(wait)
        self._stop_if_ended(wait)
        seconds, wake_at = wait["seconds"], wait["wake_at"]
        if seconds > 0:
            self.book.wake_at = wake_at
            self.durable.wait(prefix + node.wait, seconds)
            self.waited = True
        detail: dict[str, Any] = {"seconds": seconds}
        if "until" in wait:  # working time: when, as the calendar's people read it
            detail["until"] = wait["until"]
        self.book.steps.append(RunStep(name=name, kind="wait", outcome="waited", at=wake_at, detail=detail))

    def _act(self, node: Act, prefix: str) -> None:
        name = label(node, prefix)
        work = partial(self._perform, node, name, prefix + node.key)
        try:
            outcome = self.durable.step(prefix + node.at, work, side_effect=True, retry=node.action.retry)
        except Exception as exc:  # the engine gave up on the step: the run's to handle, or its end
            if self.durable.owns(exc) or not node.handles_errors:
                raise
            gave_up = partial(self._gave_up_step, node, name, readable(exc))
            outcome = self.durable.step(f"{prefix}{node.at}-error", gave_up)
        self._ended_in_step(outcome)
        self._stop_if_ended(outcome)
        self.book.steps.append(RunStep.model_validate(outcome["step"]))
        self.seen.update(from_json(outcome.get("seen", {})))
        self.variables.update(from_json(outcome.get("variables", {})))
        if "error" in outcome:
            self._handled(node, prefix, RunError.model_validate(outcome["error"]))

    def _handled(self, node: Act, prefix: str, error: RunError) -> None:
        """After an action failed for good: its fault branch (which sees ``run.error``), then the
        run goes on (``on_error: continue``) or ends failed, the failure handled."""
        self.book.errors.append(error)
        self._walk(node.fault, f"{prefix}{node.key}.f.")
        if node.action.on_error == "continue":
            return
        reason = f"{error.step}: {error.reason} (handled by its fault branch)"
        ended = partial(self.book.write, "failed", reason=reason, finished=True)
        self.durable.step(prefix + node.failed, ended)
        raise RunFailed(reason)

    def _choose(self, node: Choose, prefix: str) -> None:
        here, seen = prefix + node.at, []
        part = self._resumed_part(here)
        if part is not None:  # the branch the retried run took, where the retry starts
            index = int(part[1:]) if part.startswith("b") else None
            branch_name = node.branches[index].name if index is not None else "otherwise"
            self._note(node, prefix, f"branch '{branch_name}' (as run {self.request.retry_of} took it)")
            self._walk(node.branches[index].nodes if index is not None else node.otherwise, f"{here}.{part}.")
            return
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
        part = self._resumed_part(prefix + node.at)
        if part is not None:  # the turn the retried run was in, where the retry starts
            turns = int(part[1:])
            self._walk(node.nodes, f"{prefix}{node.at}.i{turns}.")
            turns += 1
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

    def _wait_for(self, node: WaitFor, prefix: str) -> None:
        """A durable callback, the step that registers it (or takes an event the item already
        shows), the wait itself (suspended: nothing polls), then the check after a wait and the
        branch the outcome names. The event the callback brought is ``run.event`` from here on."""
        here = prefix + node.at
        part = self._resumed_part(here)
        if part is not None:  # a retry inside the branch the retried run took
            self._note(
                node, prefix, f"'{'received' if part == 'r' else 'timed_out'}' (as run {self.request.retry_of} took it)"
            )
            self._walk(node.received if part == "r" else node.timed_out, f"{here}.{part}.")
            return
        if self.wait_over:  # resumed early: the event did not come, the wait counts as over
            self.wait_over, self.waited = False, True
            self._note(node, prefix, "resumed early", waiting_for=describe(node.until))
            self._check(node.check, prefix)
            self._walk(node.timed_out, f"{here}.t.")
            return
        callback = self.durable.callback(prefix + node.callback, node.timeout_seconds)
        registered = self.durable.step(
            prefix + node.register, partial(self._register_step, node, here, callback.callback_id)
        )
        if "event" in registered:
            payload: str | None = registered["event"]
        elif "gone" in registered:
            payload = None
        else:
            self.book.wake_at = registered["wake_at"]
            payload = callback.result()
        received = payload is not None
        if received:
            self.event = json.loads(payload) if payload else {}
        self.waited = True
        detail: dict[str, Any] = {"waiting_for": describe(node.until), "timeout": duration(node.timeout_seconds)}
        if received:
            detail["event"] = self.event
        self._note(node, prefix, "received" if received else "timed out", **detail)
        self._check(node.check, prefix)
        if received:
            self._walk(node.received, f"{here}.r.")
        else:
            self._walk(node.timed_out, f"{here}.t.")

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
