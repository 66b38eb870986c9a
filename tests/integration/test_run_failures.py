"""No run fails silently, through the local flow: whatever stops a run — a request the runner cannot
read, an error in the walker outside any step, a step whose retries ran out, an execution that times
out — leaves a ``failed`` entry with the step and a reason an administrator can read, listed with
the deal's runs and the automation's runs in the management API."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from dealflow.engine import run_steps
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import Automation

EVENTS = Path(__file__).resolve().parents[2] / "events"
ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}


def listed(stack: MotoStack, deal_id: str, automation_id: str) -> dict[str, Any]:
    """The run as an administrator finds it: under the deal, and under the automation."""
    status, of_deal = stack.api("GET", f"/deals/{deal_id}/runs", claims=ADMIN)
    assert status == 200, of_deal
    [run] = [r for r in of_deal["items"] if r["automation_id"] == automation_id]
    status, of_automation = stack.api("GET", "/runs", claims=ADMIN, query={"automation_id": automation_id})
    assert status == 200, of_automation
    assert [r for r in of_automation["items"] if r["run_id"] == run["run_id"]] == [run]
    return run


def assert_readable_failure(run: dict[str, Any], step: str) -> None:
    assert run["status"] == "failed" and run["finished_at"]
    last = run["steps"][-1]
    assert (last["name"], last["outcome"]) == (step, "failed")
    assert run["reason"] == f"{step}: {last['detail']['error']}"
    assert "Traceback" not in run["reason"] and "\n" not in run["reason"] and len(run["reason"]) < 400


def test_a_request_the_runner_cannot_read_fails_its_run_under_its_deal_and_automation(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("deal-1001", "Website redesign for Northwind", "12500.00", "services"))
    stack.drain()
    # What a dispatcher one version ahead of the runner might send: a field this runner does not know.
    request = {**json.loads((EVENTS / "runner-start.json").read_text()), "priority": "high"}

    stack.runs_port.start_raw(request["run_id"], json.dumps(request))
    stack.drain()

    run = listed(stack, "deal-1001", "won-notify-head")
    assert_readable_failure(run, "start")
    assert run["run_id"] == request["run_id"]
    assert run["reason"] == "start: the run's request could not be read: priority: Extra inputs are not permitted"
    assert stack.notifications() == []


def test_an_error_in_the_walker_outside_any_step_fails_only_that_run_with_a_reason(
    stack: MotoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    compile_run = run_steps.compile_run

    def compile_breaking_one(automation: Automation) -> Any:
        if automation.id == "won-notify-head":
            raise ValueError("the rule's actions could not be compiled")
        return compile_run(automation)

    monkeypatch.setattr(run_steps, "compile_run", compile_breaking_one)  # the start step compiles
    stack.create_deal(demo_deal("d-1", "Website", "100.00", "services"))
    stack.drain()

    stack.move_deal(TENANT, "d-1", "won")
    stack.drain()

    run = listed(stack, "d-1", "won-notify-head")
    assert_readable_failure(run, "start")
    assert run["reason"] == "start: the rule's actions could not be compiled"
    assert [g["deal_id"] for g in stack.workgroups(TENANT)] == ["d-1"]  # the deal's other rules ran


class ThrottledMailer:
    """SES refusing every send with throttling, as it does in a sending-quota incident."""

    def __init__(self) -> None:
        self.attempts = 0

    def send(
        self,
        *,
        sender: str,
        to: list[str],
        subject: str,
        body: str,
        sender_name: str | None = None,
        reply_to: str | None = None,
    ) -> str:
        self.attempts += 1
        raise ClientError({"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}}, "SendEmail")


def test_a_step_whose_retries_ran_out_fails_the_run_at_that_step(stack: MotoStack) -> None:
    mailer = ThrottledMailer()
    runner = stack._runner_app
    runner.SERVICES = replace(runner.SERVICES, mailer=mailer)
    stack.create_deal(demo_deal("d-1", "Website", "100.00", "services"))
    stack.drain()

    stack.move_deal(TENANT, "d-1", "lost")
    stack.drain()

    run = listed(stack, "d-1", "lost-email")
    assert_readable_failure(run, "action-1-send_email")
    assert run["reason"] == (
        "action-1-send_email: An error occurred (Throttling) when calling the SendEmail operation: "
        "Maximum sending rate exceeded."
    )
    assert mailer.attempts == 4  # the step's retry policy, then no more


def reconciler_event(stack: MotoStack, run_id: str, status: str) -> dict[str, Any]:
    """The sample EventBridge event (events/), about one of this stack's runner executions."""
    event = json.loads((EVENTS / "run-reconciler-timed-out.json").read_text())
    execution = stack.runs_port.execution_of(run_id)
    assert execution is not None
    event["detail"] |= {"durableExecutionArn": execution, "durableExecutionName": run_id, "status": status}
    return event


def follow_up_waiting(stack: MotoStack) -> str:
    """The demo's proposal follow-up, waiting out its two days on deal d-1; returns its run id."""
    stack.create_deal(demo_deal("d-1", "Website", "100.00", "services"))
    stack.drain()
    stack.move_deal(TENANT, "d-1", "proposal")
    stack.drain()
    [run] = [r for r in stack.runs(TENANT, "d-1") if r.automation_id == "proposal-follow-up"]
    assert run.status == "waiting"
    return run.run_id


def test_a_run_whose_execution_timed_out_is_marked_failed_by_the_reconciler(stack: MotoStack) -> None:
    run_id = follow_up_waiting(stack)
    stack.runs_port.time_out(run_id)  # on AWS the runner never gets control again

    answer = stack.execution_status_changed(reconciler_event(stack, run_id, "TIMED_OUT"))
    stack.advance(days=3)

    assert answer == {"run_id": run_id, "status": "failed"}
    run = listed(stack, "d-1", "proposal-follow-up")
    assert_readable_failure(run, "time limit")
    assert run["reason"].startswith("time limit: the run reached the runner's time limit while it waited until ")
    assert stack.emails() == [] and stack.tasks(TENANT) == []


def test_a_run_cancelled_on_purpose_stays_cancelled_when_its_stop_is_reported(stack: MotoStack) -> None:
    run_id = follow_up_waiting(stack)
    assert stack.switch(TENANT, "proposal-follow-up", False) == [run_id]

    answer = stack.execution_status_changed(reconciler_event(stack, run_id, "STOPPED"))

    assert answer == {"run_id": None, "status": None}
    run = listed(stack, "d-1", "proposal-follow-up")
    assert (run["status"], run["reason"]) == ("cancelled", "the automation was switched off")


def test_a_completed_run_is_left_as_it_is_whatever_is_reported_late(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("d-1", "Website", "100.00", "services"))
    stack.drain()
    stack.move_deal(TENANT, "d-1", "won")
    stack.drain()
    run_id = listed(stack, "d-1", "won-notify-head")["run_id"]

    stack.execution_status_changed(reconciler_event(stack, run_id, "FAILED"))

    assert listed(stack, "d-1", "won-notify-head")["status"] == "completed"
