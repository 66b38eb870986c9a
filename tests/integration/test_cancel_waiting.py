"""Cancelling waiting runs looks at every run, not one page: with large run-log items a Query page
(1 MB) holds only a few dozen runs, and a waiting run older than those must still be stopped when
its automation is switched off or its deal deleted. Beyond the first few (``CANCEL_INLINE_STOPS``)
the stops are a cancellation job the run reconciler works off the cancellation queue, in turns,
resuming from its saved position; ``GET /cancellations/{job_id}`` follows it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from dealflow import runtime
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal, set_up
from dealflow.model import RunRecord, RunStep
from dealflow.store.items import query_all
from dealflow.store.runs import RunLog

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
ANNA = {"sub": "u-anna", "custom:tenant_id": TENANT, "custom:role": "sales_rep"}
GLOBEX_ADMIN = {"sub": "u-admin", "custom:tenant_id": "globex", "custom:role": "admin"}
INLINE, PER_TURN = 3, 4
_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _runs(stack: MotoStack, count: int, *, deal_id: str | None = None) -> set[str]:
    """``count`` runs of proposal-follow-up (the oldest first), every fifth still waiting, each
    carrying a 20 KB rendered e-mail as large runs do; the ids of the waiting ones."""
    waiting = set()
    for n in range(count):
        status = "waiting" if n % 5 == 0 else "completed"
        step = RunStep(name="send_email", kind="action", outcome="sent", detail={"body": "x" * 20_000})
        stack.run_log.write(
            RunRecord(
                tenant_id=TENANT,
                run_id=f"run-{n:04d}",
                automation_id="proposal-follow-up",
                automation_name="Proposal follow-up",
                automation_kind="rule",
                deal_id=deal_id or f"deal-{n:04d}",
                event_id=f"evt-{n}",
                started_by={},
                status=status,
                steps=[step],
                started_at=(_START + timedelta(minutes=n)).isoformat(),
            )
        )
        if status == "waiting":
            waiting.add(f"run-{n:04d}")
    return waiting


def _statuses(stack: MotoStack) -> dict[str, str]:
    return {r.run_id: r.status for r in stack.run_log.all(TENANT)}


def _jobs(stack: MotoStack) -> list[dict[str, Any]]:
    return list(query_all(runtime.automation_table(), TENANT, "CANCEL#"))


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoStack]:
    """The demo tenant, with a request stopping 3 waiting runs itself and a worker's turn 4."""
    monkeypatch.setenv("CANCEL_INLINE_STOPS", str(INLINE))
    monkeypatch.setenv("CANCEL_STOPS_PER_INVOCATION", str(PER_TURN))
    with MotoStack() as local:
        set_up(local)
        yield local


def _proposals(stack: MotoStack, count: int) -> set[str]:
    """``count`` deals sent a proposal: each has a run of proposal-follow-up waiting two days."""
    for n in range(count):
        stack.create_deal(demo_deal(f"deal-{n:03d}", f"Proposal {n}", "1000.00", "services"))
        stack.move_deal(TENANT, f"deal-{n:03d}", "proposal")
    stack.drain()
    waiting = {r.run_id for r in stack.runs_of(TENANT, "proposal-follow-up") if r.status == "waiting"}
    assert len(waiting) == count
    return waiting


def test_switching_an_automation_off_cancels_every_waiting_run_however_old(stack: MotoStack) -> None:
    waiting = _runs(stack, 250)  # 5 MB of run log: five Query pages and more

    status, body = stack.api("POST", "/automation/proposal-follow-up/disable", claims=ADMIN)

    # The first 25 within the request, the rest by the job's worker.
    assert status == 200 and len(body["cancelled_runs"]) == 25 and set(body["cancelled_runs"]) < waiting
    assert body["cancellation"]["status"] == "running" and body["cancellation"]["stopped"] == 25
    stack.drain()
    status, job = stack.api("GET", body["cancellation"]["link"], claims=ADMIN)
    assert status == 200 and job["status"] == "done"
    assert (job["found"], job["stopped"], job["already_ended"], job["failed"]) == (50, 50, 0, 0)
    statuses = _statuses(stack)
    assert {run_id for run_id, s in statuses.items() if s == "cancelled"} == waiting and len(waiting) == 50
    assert sum(s == "completed" for s in statuses.values()) == 200  # ended runs stay as they ended


def test_a_few_waiting_runs_are_cancelled_within_the_request(stack: MotoStack) -> None:
    waiting = _proposals(stack, 2)

    response = stack.api_response("POST", "/automation/proposal-follow-up/disable", claims=ADMIN)

    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert set(body["cancelled_runs"]) == waiting
    job = body["cancellation"]
    assert job["status"] == "done" and (job["found"], job["stopped"]) == (2, 2)
    assert job["automation_ids"] == ["proposal-follow-up"] and job["requested_by"] == "u-admin"
    assert response["headers"]["Location"] == job["link"] == f"/cancellations/{job['job_id']}"
    assert stack.api("GET", job["link"], claims=ADMIN) == (200, job)


def test_many_waiting_runs_are_a_job_worked_off_in_turns_and_nothing_is_sent_after(small: MotoStack) -> None:
    waiting = _proposals(small, 10)

    status, body = small.api("POST", "/automation/proposal-follow-up/disable", claims=ADMIN)

    assert status == 200 and len(body["cancelled_runs"]) == INLINE
    job = body["cancellation"]
    assert job["status"] == "running" and (job["found"], job["stopped"]) == (INLINE, INLINE)
    assert small.api("GET", job["link"], claims=ANNA)[1]["stopped"] == INLINE  # any role may follow it

    small.drain()

    status, done = small.api("GET", job["link"], claims=ANNA)
    assert status == 200 and done["status"] == "done" and done["finished_at"] is not None
    assert (done["found"], done["stopped"], done["already_ended"], done["failed"]) == (10, 10, 0, 0)
    assert len(small.cancellation_pump.receives) == 2  # 7 left after the request: two turns of 4
    runs = {r.run_id: r for r in small.runs_of(TENANT, "proposal-follow-up")}
    assert {r.status for r in runs.values()} == {"cancelled"} and set(runs) == waiting
    assert {r.reason for r in runs.values()} == {"the automation was switched off"}
    small.advance(days=3)
    assert small.emails() == [] and small.tasks(TENANT) == []  # the follow-ups never went out


def test_a_worker_cut_off_mid_page_resumes_from_its_position_and_counts_each_run_once(
    small: MotoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = _proposals(small, 9)
    real_cancel = RunLog.cancel
    calls: list[str] = []

    def cut_off_once(self: RunLog, run: RunRecord, reason: str, job_id: str) -> bool:
        calls.append(run.run_id)
        if len(calls) == INLINE + 2:  # the worker's first turn: one run marked and stopped, then this
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutItem")
        return real_cancel(self, run, reason, job_id)

    monkeypatch.setattr(RunLog, "cancel", cut_off_once)

    status, body = small.api("POST", "/automation/proposal-follow-up/disable", claims=ADMIN)
    assert status == 200
    small.drain()

    assert len(calls) > INLINE + 2  # it was cut off, and went on
    status, done = small.api("GET", body["cancellation"]["link"], claims=ADMIN)
    assert status == 200
    # The run the cut-off turn marked is found again, recognised as its own, and counted once.
    assert (done["status"], done["found"], done["stopped"], done["already_ended"]) == ("done", 9, 9, 0)
    assert {r.run_id for r in small.runs_of(TENANT, "proposal-follow-up") if r.status == "cancelled"} == waiting
    assert small.cancellation_pump.dead_letters == []


def test_bulk_switch_off_is_one_job_for_every_automation(small: MotoStack) -> None:
    reminder = {
        "kind": "rule",
        "id": "proposal-reminder",
        "name": "Proposal: remind the head after a day",
        "pipeline_id": "sales",
        "stage_id": "proposal",
        "delay": {"days": 1},
        "actions": [{"kind": "notify", "to": {"users": ["u-head"]}, "message": "{{ deal.title }} still open"}],
    }
    assert small.api("PUT", "/automation/proposal-reminder", reminder, claims=ADMIN)[0] == 201
    _proposals(small, 4)
    assert sum(r.status == "waiting" for r in small.runs(TENANT)) == 8

    status, body = small.api(
        "POST",
        "/automation/bulk",
        {"operation": "disable", "ids": ["proposal-follow-up", "proposal-reminder"]},
        claims=ADMIN,
    )

    job = body["cancellation"]
    assert status == 200 and job["automation_ids"] == ["proposal-follow-up", "proposal-reminder"]
    assert job["status"] == "running" and job["stopped"] == INLINE == len(body["cancelled_runs"])
    small.drain()
    done = small.api("GET", job["link"], claims=ADMIN)[1]
    assert (done["status"], done["found"], done["stopped"]) == ("done", 8, 8)
    assert [j["job_id"] for j in _jobs(small)] == [job["job_id"]]
    assert not any(r.status == "waiting" for r in small.runs(TENANT))
    small.advance(days=3)
    assert small.emails() == [] and small.notifications() == []


def test_a_job_is_its_tenants_alone(small: MotoStack) -> None:
    _proposals(small, 1)
    job = small.api("POST", "/automation/proposal-follow-up/disable", claims=ADMIN)[1]["cancellation"]

    status, body = small.api("GET", job["link"], claims=GLOBEX_ADMIN)
    assert status == 404 and body["error"] == "not_found"
    assert small.api("GET", "/cancellations/no-such-job", claims=ADMIN)[0] == 404
    assert small.api("GET", job["link"], claims=ADMIN)[0] == 200


def test_deleting_a_deal_cancels_every_waiting_run_of_it_however_old(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("deal-500", "Long history", "1000.00", "services"))
    stack.drain()
    waiting = _runs(stack, 250, deal_id="deal-500")

    stack.delete_deal(TENANT, "deal-500")
    stack.drain()

    statuses = _statuses(stack)
    assert {run_id for run_id, s in statuses.items() if s == "cancelled"} == waiting
    assert all(statuses[f"run-{n:04d}"] == "completed" for n in range(250) if n % 5)
    # The dispatcher stopped the first 25 and queued the rest as a job, as the API does.
    [job] = _jobs(stack)
    assert (job["deal_id"], job["requested_by"], job["status"]) == ("deal-500", "dealflow", "done")
    assert (job["found"], job["stopped"]) == (50, 50)
