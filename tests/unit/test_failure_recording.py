"""No run fails silently, on in-memory ports: a request the runner cannot read, an error in the walker
outside any step, a step out of retries outside any node, and executions the durable engine ends
by itself (timed out, stopped, crashed) each leave a ``failed`` record an administrator can read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from dealflow import clock
from dealflow.engine import run_steps
from dealflow.engine.interpreter import execute_event
from dealflow.engine.run_ends import RunFailed
from dealflow.engine.run_failures import UnreadableRequest, readable, reconcile
from dealflow.engine.run_requests import run_request
from dealflow.model import BusinessProcess, Deal, Pipeline, Rule, RunRequest, Stage, Tenant, User
from dealflow.model.run import ExecutionStatusChange
from dealflow.ports import ExecutionFacts
from tests.fakes import FakeAutomation, FakeDeals, FakeDurable, FakeEngine, FakeExecutions

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TENANT = Tenant(id="t1", name="Example Ltd", users=[User(id="u-head", name="Helena", email="helena@example.com")])
SALES = Pipeline(id="sales", name="Sales", stages=[Stage(id="new", name="New"), Stage(id="won", name="Won")])
RULE = Rule.model_validate(
    {
        "id": "won-mail",
        "name": "Won deal: e-mail the head",
        "pipeline_id": "sales",
        "stage_id": "won",
        "actions": [{"kind": "send_email", "to": {"users": ["u-head"]}, "subject": "Won", "body": "{{ deal.title }}"}],
    }
)
DEAL = Deal(tenant_id="t1", id="d-1", pipeline_id="sales", stage_id="won", title="Website")
EXECUTION = "arn:aws:lambda:eu-west-1:123456789012:function:runner:7/durable-execution/a/b"


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    clock.use(lambda: NOW)
    yield
    clock.use(None)


def engine(*automation: Any) -> FakeEngine:
    return FakeEngine(FakeAutomation(TENANT, [SALES], [], list(automation) or [RULE]), FakeDeals(DEAL))


def raw_request(automation: Any = RULE, **changes: Any) -> dict[str, Any]:
    """A run request as the runner receives it; ``automation`` a model (referenced) or raw data."""
    if isinstance(automation, dict):
        return {**raw_request(), "automation": automation, **changes}
    request = run_request(DEAL, automation, "evt-1", {"pipeline_id": "sales", "stage_id": "won"}, run_id="run-1")
    return {**request.model_dump(mode="json"), **changes}


class Durable(FakeDurable):
    """The fake durable engine under its AWS execution id."""

    @property
    def execution_id(self) -> str:
        return EXECUTION


# --- A request the runner cannot read ---------------------------------------------------------------------------


def test_an_unreadable_request_fails_its_run_under_its_deal_and_automation_with_a_readable_reason() -> None:
    found = engine()
    raw = raw_request(deal_version=0, priority="high")

    with pytest.raises(RunFailed):
        execute_event(raw, Durable(), found.services)

    [record] = found.runs.for_deal("t1", "d-1")
    assert found.runs.for_automation("t1", "won-mail") == [record]
    assert (record.run_id, record.status, record.automation_name) == ("run-1", "failed", "Won deal: e-mail the head")
    assert record.reason is not None and record.reason.startswith("start: the run's request could not be read: ")
    assert "deal_version: Input should be greater than or equal to 1" in record.reason
    assert "priority: Extra inputs are not permitted" in record.reason
    assert "Traceback" not in record.reason and "\n" not in record.reason
    [step] = record.steps
    assert (step.name, step.kind, step.outcome) == ("start", "check", "failed")
    assert record.execution_id == EXECUTION and record.finished_at is not None
    assert found.outbox.sent == []


def test_an_unreadable_request_without_a_tenant_is_logged_and_raised_not_filed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    found = engine()

    with pytest.raises(UnreadableRequest, match="could not be read: tenant_id"):
        execute_event({"run_id": "run-2", "deal": "not a deal"}, Durable(), found.services)

    assert found.runs.records == {}
    [logged] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert (logged.run_id, logged.execution_id) == ("run-2", EXECUTION)  # type: ignore[attr-defined]


def test_an_unreadable_request_never_overwrites_a_run_that_ended() -> None:
    found = engine()
    found.run(RunRequest.model_validate(raw_request()))
    assert found.runs.records["run-1"].status == "completed"

    with pytest.raises(RunFailed):
        execute_event(raw_request(automation={"kind": "rule"}), Durable(), found.services)

    assert found.runs.records["run-1"].status == "completed"


# --- Failures outside any node ----------------------------------------------------------------------------------


def test_an_error_in_the_walker_outside_any_step_fails_the_run_at_its_start(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(automation: Any) -> Any:
        raise ValueError("a node of an unknown kind")

    monkeypatch.setattr(run_steps, "compile_run", broken)
    found = engine()

    record, durable = found.run(RunRequest.model_validate(raw_request()))

    assert (record.status, record.reason) == ("failed", "start: a node of an unknown kind")
    assert [(s.name, s.outcome) for s in record.steps] == [("start", "failed")]
    assert durable.step_names == ["start", "failed"]  # the start step compiles what it loaded


def test_a_finish_step_out_of_retries_fails_the_run_at_finish() -> None:
    process = BusinessProcess.model_validate(
        {
            "id": "p1",
            "name": "Tell the head",
            "start_on": ["change"],
            "nodes": [{"kind": "set_variable", "variable": "x", "value": 1}],
        }
    )
    found = engine(process)
    request = RunRequest.model_validate(raw_request(process))

    record, durable = found.run(request, FakeDurable(give_up={"finish"}))

    assert record.status == "failed"
    assert record.reason == "finish: gave up after 4 attempts: finish kept failing"
    assert (record.steps[-1].name, record.steps[-1].outcome) == ("finish", "failed")
    assert durable.step_names[-2:] == ["finish", "failed"]


class CheckpointLost(Exception):
    """Stands for the durable engine's own errors: retry this invocation."""


class OwningDurable(FakeDurable):
    def step(self, name: str, fn: Any, *, side_effect: bool = False, retry: Any = None) -> Any:
        if name == "action-1-send_email":
            raise CheckpointLost("checkpoint failed")
        return super().step(name, fn, side_effect=side_effect, retry=retry)

    def owns(self, error: Exception) -> bool:
        return isinstance(error, CheckpointLost)


def test_an_error_the_durable_engine_keeps_for_itself_is_let_through_not_recorded_as_the_runs_end() -> None:
    found = engine()

    with pytest.raises(CheckpointLost):
        execute_event(raw_request(), OwningDurable(), found.services)

    assert found.runs.records["run-1"].status == "running"  # the retried invocation carries on


# --- Executions the durable engine ended by itself ---------------------------------------------------------------


def ended(status: str, name: str | None = "run-1") -> ExecutionStatusChange:
    return ExecutionStatusChange.model_validate(
        {"durableExecutionArn": EXECUTION, "durableExecutionName": name, "status": status, "extra": "ignored"}
    )


def known(error: str | None = None, request: Any = None) -> FakeExecutions:
    return FakeExecutions({EXECUTION: ExecutionFacts(request=request or raw_request(), error=error)})


def waiting_run() -> FakeEngine:
    delayed = Rule.model_validate({**RULE.model_dump(), "delay": {"days": 2}})
    found = engine(delayed)
    request = RunRequest.model_validate(raw_request(delayed))
    record, _ = found.run(request, FakeDurable(suspend_at_waits=True))
    assert record.status == "waiting"
    return found


def test_a_run_whose_execution_timed_out_while_waiting_is_marked_failed_with_the_wait_it_was_in() -> None:
    found = waiting_run()

    record = reconcile(ended("TIMED_OUT"), known(), found.runs)

    assert record is not None and found.runs.records["run-1"] == record
    assert record.status == "failed" and record.finished_at is not None
    assert record.reason == (
        "time limit: the run reached the runner's time limit while it waited until "
        "2026-03-04T09:00:00.000+00:00 and AWS ended it"
    )
    assert [(s.name, s.outcome) for s in record.steps] == [("time limit", "failed")]
    assert record.steps[-1].detail["execution_status"] == "TIMED_OUT"


def test_a_stopped_execution_is_marked_failed_and_says_it_was_stopped_from_outside() -> None:
    found = waiting_run()

    record = reconcile(ended("STOPPED"), known(), found.runs)

    assert record is not None
    assert record.reason == "stopped: the run was stopped from outside Dealflow before it finished"


def test_a_crash_the_runner_could_not_record_is_filed_from_the_request_with_the_engines_error() -> None:
    runs = engine().runs

    record = reconcile(ended("FAILED"), known(error="Task timed out after 120.00 seconds\nmore"), runs)

    assert record is not None
    assert (record.tenant_id, record.deal_id, record.automation_id) == ("t1", "d-1", "won-mail")
    assert record.reason == "runner: the runner stopped before it could record why: Task timed out after 120.00 seconds"


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled", "skipped"])
def test_a_run_that_ended_keeps_how_it_ended(status: str) -> None:
    found = waiting_run()
    found.runs.write(found.runs.records["run-1"].model_copy(update={"status": status, "reason": "its own"}))

    assert reconcile(ended("TIMED_OUT"), known(), found.runs) is None
    assert (found.runs.records["run-1"].status, found.runs.records["run-1"].reason) == (status, "its own")


@pytest.mark.parametrize("status", ["RUNNING", "SUCCEEDED"])
def test_executions_that_run_or_succeeded_are_left_to_the_runner(status: str) -> None:
    found = waiting_run()

    assert reconcile(ended(status), known(), found.runs) is None
    assert found.runs.records["run-1"].status == "waiting"


def test_an_execution_no_longer_known_and_named_after_no_tenant_is_logged_and_skipped() -> None:
    runs = engine().runs

    assert reconcile(ended("TIMED_OUT"), FakeExecutions(), runs) is None
    assert runs.records == {}


# --- Reasons an administrator can read ---------------------------------------------------------------------------


def test_reasons_are_one_short_line_whatever_the_error() -> None:
    with pytest.raises(ValidationError) as caught:
        RunRequest.model_validate({})
    assert readable(caught.value).endswith(" more)")
    assert readable(RuntimeError("x" * 1000)) == "x" * 299 + "…"
    assert readable(KeyError()) == "unexpected KeyError in the engine"
    assert readable(RuntimeError("first line\n  File 'x.py', line 1")) == "first line"
