"""The work a run does inside its durable steps: reading the automation's saved version, the item
and the tenant, performing actions, planning waits, writing the run log. Each step returns
JSON-ready data only, and only what the walk needs to decide between steps
(``dealflow.engine.interpreter``): never the whole deal, the tenant or a rendered text — each
result is checkpointed, billed and capped at 256 KB on AWS.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dealflow import clock
from dealflow.engine.actions import ActionContext, ActionError, Services, perform
from dealflow.engine.attempts import delivered, earlier_errors, note_failed_try, tries
from dealflow.engine.calendars import NoCalendar, local_label, working_time_for
from dealflow.engine.changes import flat, tenant_facts
from dealflow.engine.checkpoints import from_json, packed, to_json
from dealflow.engine.compile_run import compile_run
from dealflow.engine.compiled import MAX_DEPTH
from dealflow.engine.delays import DelayError, seconds_until, wake_moment, working_wake
from dealflow.engine.goals import ending
from dealflow.engine.nodes import Act, Check, Delay, Node, RunPlan, SetVariable, StepKind, WaitFor
from dealflow.engine.run_record import RunBook, bounded, stamp
from dealflow.engine.run_start import Snapshot, planned, recorded, snapshot
from dealflow.engine.waiting import WAITER_GRACE_SECONDS, bounded_event, describe, shown_by, source_of
from dealflow.language import templates
from dealflow.language.conditions import compile_condition
from dealflow.model import Causation, Deal, RunError, RunRequest, RunStep, Tenant
from dealflow.model.catalog import Automation
from dealflow.model.run import RunStatus
from dealflow.ports import Durable, Waiter


def label(node: Node, prefix: str) -> str:
    """A node's name in the run log."""
    return node.name or f"{prefix}{node.at}"


def position(node: Node, prefix: str) -> str:
    """A node's place in the tree, unique in its run (a retry or an early resume starts there);
    a check is named by its step, as a delay's re-check shares the delay's ``at``."""
    return prefix + (node.step if isinstance(node, Check) else node.at)


class RunSteps:
    """A run's state, and the work done inside its steps."""

    def __init__(self, request: RunRequest, durable: Durable, services: Services) -> None:
        self.request, self.durable, self.services = request, durable, services
        self.item_id = request.target_id or request.deal_id
        self.automation: Automation | None = None  # loaded by the start step (or, on replay, after it)
        self.plan = RunPlan(())
        self.book = RunBook(request, services.runs, durable.execution_id, services.run_dead_letter)
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
        self.resume_at = request.resume_at  # None once the walk reached it (see the interpreter)
        self.wait_over = False  # the wait the walk reached is one resumed early
        self.checked_at_start: dict[str, Any] | None = None  # the first check, made by the start step
        self.event: dict[str, Any] | None = None  # what the last wait_for received: templates' run.event

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

    def _ending_step(self, item: Deal | None) -> dict[str, Any] | None:
        """When the automation's goal or one of its exits holds for ``item``: the run's record
        written as ``goal_met`` or ``exited``, and the step's result saying so (else None)."""
        automation = self.automation
        if item is None or automation is None or (automation.goal is None and not automation.exits):
            return None
        compiled = self.services.automation.load(self.request.tenant_id)
        facts = {**(flat(item) or {}), **tenant_facts(compiled.tenant)}
        entry = self.request.started_by
        started_in = None if self.request.target_id else (entry.pipeline_id, entry.stage_id)
        ended = ending(automation, item, facts, compiled.pipelines, started_in)
        if ended is None:
            return None
        detail = bounded({"reason": ended.reason, "criterion": ended.criterion, "conditions": ended.conditions})
        step = RunStep(name="check", kind="check", outcome=ended.outcome, at=stamp(), detail=detail)
        self.book.write(ended.status, reason=ended.reason, finished=True, new_step=step)
        return {"proceed": False, "ended": ended.status, "step": step.model_dump(mode="json")}

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
        # Planned here (one checkpoint fewer), unless a retry starts past it or an early resume ends it.
        if isinstance(lead, Delay) and lead.plan is None and self._plans(position(lead, "")):
            self.book.position = position(lead, "")
            planned_wait = self._plan(lead, label(lead, ""), item)
            if "failed" in planned_wait:
                return {"started_at": self.book.started_at, **planned_wait}
            started |= {"wait_seconds": planned_wait["seconds"], "wake_at": planned_wait["wake_at"]}
            if "until" in planned_wait:
                started["until"] = planned_wait["until"]
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

    def _plans(self, lead: str) -> bool:
        """Whether the run works out the leading delay at ``lead``: a new run does, and a retry from
        that delay (it failed there); a retry from a later node or an early resume does not."""
        request = self.request
        return request.resume_at is None or (request.resume_at == lead and not request.resume_after_wait)

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
        until: str | None = None
        try:
            if node.hold is not None or (node.delay is not None and node.delay.in_working_time):
                which = node.hold or (node.delay.calendar if node.delay else None)
                working = working_time_for(self.services.automation.load(item.tenant_id).tenant, which, item)
                wake = working_wake(node.delay, working, now)
                until = local_label(wake, working)
            else:
                assert node.delay is not None
                wake = wake_moment(node.delay, item, now)
        except (DelayError, NoCalendar) as exc:
            return {"failed": str(exc), "step": self.book.fail(name, "wait", str(exc)).model_dump(mode="json")}
        planned: dict[str, Any] = {"seconds": seconds_until(wake, now), "wake_at": stamp(wake)}
        return planned | ({"until": until} if until else {})

    def _plan_step(self, node: Delay, name: str) -> dict[str, Any]:
        item = self._item_now()
        if (ended := self._ending_step(item)) is not None:  # no wait for a run whose goal is met
            return ended
        planned_wait = self._plan(node, name, item)
        if planned_wait.get("seconds"):
            self.book.wake_at = planned_wait["wake_at"]
            self.book.write("waiting")
        return planned_wait

    def _register_step(self, node: WaitFor, position: str, callback_id: str) -> dict[str, Any]:
        """Register the run as a waiter of its item, then look at the item: when it shows the event
        already (the stage reached, the step done, the condition met), the run claims its own
        waiter back and takes the event at once (``event``); else it waits (``wake_at``). Registered
        before the look, so a change in between is seen by one of the two, and the claim decides."""
        request, now = self.request, clock.now()
        wake = now + timedelta(seconds=node.timeout_seconds)
        waiters = self.services.waiters
        waiter = Waiter(
            tenant_id=request.tenant_id,
            deal_id=self.item_id,
            run_id=request.run_id,
            position=position,
            callback_id=callback_id,
            automation_id=request.automation.id,
            on=source_of(node.until),
            until=node.until,
            expires_at=stamp(wake + timedelta(seconds=WAITER_GRACE_SECONDS)),
        )
        if waiters is not None:
            waiters.add(waiter)
        item = self._item_now()
        if item is None:  # nothing to wait for: the check after it ends the run, saying why
            if waiters is not None:
                waiters.claim(waiter)
            return {"gone": True}
        if waiter.on == "deal":
            tenant = self.services.automation.load(request.tenant_id).tenant
            shown = shown_by(node.until, item, tenant_facts(tenant))
            if shown is not None and (waiters is None or waiters.claim(waiter)):
                return {"event": bounded_event(shown)}
        self.book.wake_at, self.book.waiting_for = stamp(wake), describe(node.until)
        self.book.write("waiting")
        return {"wake_at": stamp(wake)}

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
        if node.forgets_waiter and self.services.waiters is not None:  # timed out: nobody claimed it
            self.services.waiters.forget(request.tenant_id, self.item_id, request.run_id)

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
        elif (early := self._ending_step(item)) is not None:  # its goal or an exit, before the rest
            return early
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

    def _perform(self, node: Act, name: str, key: str) -> dict[str, Any]:
        """Carry out one action; a failure the automation's author must fix ends the run here (or,
        when the run handles the action's failures, is recorded and handed to the walker) rather
        than being retried. Any other failure is this try's: recorded, and raised for the step's
        retry policy to decide."""
        request, kept = self.request, self.snapshot
        assert kept is not None and self.automation is not None
        attempt = self.durable.attempt
        earlier = earlier_errors(self.book, name) if attempt > 1 else []
        item = self._item_now()
        if item is None:
            error = f"the {'lead' if request.target_id else request.entity} no longer exists"
            return self._action_failed(node, name, error, tries(attempt, earlier))
        if (ended := self._ending_step(item)) is not None:  # checked before every action
            return ended
        ctx = ActionContext(
            tenant=self._tenant_for(item),
            pipelines=kept.pipelines,
            fields=kept.fields,
            deal=item,
            # A retry uses the keys of the run it retries: what that run did is not done again.
            effect_key=f"{request.effects_of or request.run_id}:{key}",
            services=self.services,
            variables=dict(self.variables),
            causation=Causation(
                run_id=request.run_id,
                automation_id=self.automation.id,
                depth=request.depth,
                chain=[*request.chain, request.automation.id][-MAX_DEPTH:],
            ),
            run=self._run_facts(),
            owner_id=self.automation.owner_id,
            attempt=attempt,
        )
        try:
            result = perform(node.action, ctx)
        except (ActionError, templates.TemplateError) as exc:
            refused = delivered(earlier, getattr(exc, "detail", {}))
            return self._action_failed(node, name, str(exc), {**tries(attempt, earlier), **refused})
        except Exception as exc:
            note_failed_try(self.book, name, attempt, earlier, exc)
            raise
        if result.get("status") == "unconfirmed" or result.get("unconfirmed"):
            # Held (``ambiguous: hold``): it may or may not have happened; a person decides, and
            # the run stops here rather than act on an effect nobody can vouch for.
            reason = str(result.get("reason") or "unconfirmed")
            held = self.book.fail(name, "action", reason, outcome="unconfirmed", detail=bounded(result))
            return {"failed": reason, "step": held.model_dump(mode="json")}
        outcome = "duplicate" if result.get("duplicate") else "done"
        shown = {k: v for k, v in result.items() if k != "delivery"}
        detail = bounded({**shown, **tries(attempt, earlier), **delivered(earlier, result)})
        step = RunStep(name=name, kind="action", outcome=outcome, at=stamp(), detail=detail)
        self.book.write("completed" if node.closes_run else "running", finished=node.closes_run, new_step=step)
        done: dict[str, Any] = {"step": step.model_dump(mode="json")}
        if "variables" in result:  # process variables the action set (an answer saved into them)
            done["variables"] = result["variables"]
        if self.plan.reads and (seen := self._seen_changes(ctx.deal)):
            done["seen"] = seen
        return done

    def _gave_up_step(self, node: Act, name: str, error: str) -> dict[str, Any]:
        """The durable engine gave up on an action's step (its retries spent, or a failure not
        worth retrying) and the run handles the failure: record it, with the tries it took."""
        errors = earlier_errors(self.book, name)
        attempts = max((e.get("attempt", 0) for e in errors), default=1)
        return self._action_failed(node, name, error, tries(attempts, errors))

    def _action_failed(self, node: Act, name: str, error: str, attempts: dict[str, Any]) -> dict[str, Any]:
        """An action failed for good. Unless the run handles it, the run ends ``failed`` here;
        else the step is recorded failed and the run goes on (the walker decides where)."""
        if not node.handles_errors:
            return {
                "failed": error,
                "step": self.book.fail(name, "action", error, detail=attempts).model_dump(mode="json"),
            }
        handled = RunError(
            step=name,
            reason=error,
            attempts=attempts.get("attempts", 1),
            handled="fault_branch" if node.fault else "continued",
        )
        step = RunStep(name=name, kind="action", outcome="failed", at=stamp(), detail={"error": error, **attempts})
        closes = node.closes_run and not node.fault
        self.book.write("completed" if closes else "running", finished=closes, new_step=step, new_error=handled)
        return {"error": handled.model_dump(mode="json"), "step": step.model_dump(mode="json")}

    def _run_facts(self) -> dict[str, Any]:
        """What templates see as ``run``: its id, the link to it, and the last failure it handled."""
        base = (self.services.run_link_base or "").rstrip("/")
        facts: dict[str, Any] = {
            "id": self.request.run_id,
            "url": f"{base}/runs/{self.request.run_id}",
            "automation": self.request.automation.name,
        }
        if self.event is not None:
            facts["event"] = self.event
        if self.book.errors:
            last = self.book.errors[-1]
            facts["error"] = {"step": last.step, "reason": last.reason, "attempts": last.attempts}
        return facts

    def _tenant_for(self, item: Deal) -> Tenant:
        """The snapshot's tenant, with the item's responsible user when it changed since the start."""
        assert self.snapshot is not None
        tenant, responsible = self.snapshot.tenant, item.responsible_id
        if responsible and tenant.user(responsible) is None:
            user = self.services.automation.load(tenant.id).tenant.user(responsible)
            if user is not None:
                return tenant.model_copy(update={"users": [*tenant.users, user]})
        return tenant
