"""Cancelling waiting runs looks at every run, not one page: with large run-log items a Query page
(1 MB) holds only a few dozen runs, and a waiting run older than those must still be stopped when
its automation is switched off or its deal deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import RunRecord, RunStep

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
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


def test_switching_an_automation_off_cancels_every_waiting_run_however_old(stack: MotoStack) -> None:
    waiting = _runs(stack, 250)  # 5 MB of run log: five Query pages and more

    status, body = stack.api("POST", "/automation/proposal-follow-up/disable", claims=ADMIN)

    assert status == 200 and set(body["cancelled_runs"]) == waiting and len(waiting) == 50
    statuses = _statuses(stack)
    assert {run_id for run_id, s in statuses.items() if s == "cancelled"} == waiting
    assert sum(s == "completed" for s in statuses.values()) == 200  # ended runs stay as they ended


def test_deleting_a_deal_cancels_every_waiting_run_of_it_however_old(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("deal-500", "Long history", "1000.00", "services"))
    stack.drain()
    waiting = _runs(stack, 250, deal_id="deal-500")

    stack.delete_deal(TENANT, "deal-500")
    stack.drain()

    statuses = _statuses(stack)
    assert {run_id for run_id, s in statuses.items() if s == "cancelled"} == waiting
    assert all(statuses[f"run-{n:04d}"] == "completed" for n in range(250) if n % 5)
