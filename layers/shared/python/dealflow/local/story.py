"""The demo's narrator: what each run did, read from the run itself.

Every line comes from a run-log entry and its steps (the rendered e-mail, the notification, the
workgroup or task an action created), never from listing workgroups or e-mails and guessing
which run they belong to. Runs that settle together are told in a fixed order (by deal, then
triggers before the rules they cause), so the story reads the same on every run of the demo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from dealflow.local.stack import MotoStack
from dealflow.model import RunRecord, RunStep

# A trigger's move comes before the stage rules and tunnels it causes; processes come last.
_KIND_ORDER = {"trigger": 0, "rule": 1, "tunnel": 2, "business_process": 3}


def _email(detail: dict[str, Any]) -> Iterator[str]:
    yield f"e-mail to {', '.join(detail['to'])}"
    yield f"  subject: {detail['subject']}"
    for line in detail["body"].strip().splitlines():
        yield f"  {line}".rstrip()


def _notification(detail: dict[str, Any]) -> Iterator[str]:
    yield f"notification to {', '.join(detail['users'])}: {detail['message']}"


def _workgroup(detail: dict[str, Any]) -> Iterator[str]:
    yield f"workgroup '{detail['name']}' owner {detail['owner_id']}, members {', '.join(detail['members'])}"


def _task(detail: dict[str, Any]) -> Iterator[str]:
    yield f"task for {detail['assignee_id']}: {detail['title']} (due {detail.get('due_date', '-')})"


def _copy(detail: dict[str, Any]) -> Iterator[str]:
    # The copy's id hashes the stream record's id, which differs on every run: say where it went.
    yield f"copied to pipeline '{detail['pipeline_id']}', stage '{detail['stage_id']}'"


def _stage_move(detail: dict[str, Any]) -> Iterator[str]:
    if detail.get("moved", True):
        yield f"moved from stage '{detail['from_stage_id']}' to '{detail['stage_id']}'"
    else:
        yield f"stays in stage '{detail['stage_id']}': {detail['reason']}"


def _pipeline_move(detail: dict[str, Any]) -> Iterator[str]:
    yield f"moved to pipeline '{detail['pipeline_id']}', stage '{detail['stage_id']}'"


def _fields(detail: dict[str, Any]) -> Iterator[str]:
    yield "fields set: " + ", ".join(f"{name} = {value}" for name, value in detail["values"].items())


# Which action an action step was, told by what its result holds (the run log keeps the result,
# not the action's kind). Checked in order: the first whose keys are all present tells the step.
_EFFECTS: list[tuple[frozenset[str], Callable[[dict[str, Any]], Iterator[str]]]] = [
    (frozenset({"to", "subject", "body"}), _email),
    (frozenset({"users", "message"}), _notification),
    (frozenset({"members", "owner_id"}), _workgroup),
    (frozenset({"assignee_id", "title"}), _task),
    (frozenset({"copy_id"}), _copy),
    (frozenset({"from_pipeline_id", "pipeline_id"}), _pipeline_move),
    (frozenset({"from_stage_id", "stage_id"}), _stage_move),
    (frozenset({"values"}), _fields),
]


def step_lines(step: RunStep) -> list[str]:
    """What one step of a run did, as the demo tells it (nothing for a passed check)."""
    if step.kind == "condition":
        return [f"{step.name}: {step.outcome}"]
    if step.kind != "action" or step.outcome != "done":
        return []
    for keys, describe in _EFFECTS:
        if keys <= step.detail.keys():
            lines = list(describe(step.detail))
            if step.detail.get("duplicate"):
                lines[0] += " (already done by an earlier attempt)"
            return lines
    return [f"{step.name}: done"]


def run_lines(run: RunRecord) -> list[str]:
    """One run: what it is, on which deal, how it ended; then what each of its steps did."""
    kind = run.automation_kind.replace("_", " ")
    event = run.started_by.get("event")
    cause = f" ({event})" if run.automation_kind == "business_process" and event else ""
    status = run.status.replace("_", " ")
    wake = f" until {run.wake_at[:16]}" if run.status == "waiting" and run.wake_at else ""
    reason = f" — {run.reason}" if run.reason else ""
    lines = [f"{kind} '{run.automation_name}' on {run.deal_id}{cause}: {status}{wake}{reason}"]
    if run.status not in ("waiting", "not_started"):  # their reason says it all
        lines += [f"  {line}" for step in run.steps for line in step_lines(step)]
    return lines


def _order(run: RunRecord) -> tuple[str, int, str, str]:
    return run.deal_id, _KIND_ORDER.get(run.automation_kind, 9), run.automation_name, run.started_by.get("event") or ""


class Narrator:
    """Prints the runs of one tenant that are new (or changed status) since the last call."""

    def __init__(self, stack: MotoStack, tenant_id: str) -> None:
        self.stack, self.tenant_id = stack, tenant_id
        self.told: set[tuple[str, str]] = set()

    def tell(self) -> None:
        fresh = [r for r in self.stack.runs(self.tenant_id) if (r.run_id, r.status) not in self.told]
        if not fresh:
            print("  (no automation ran)")
        for run in sorted(fresh, key=_order):
            self.told.add((run.run_id, run.status))
            for line in run_lines(run):
                print(f"  {line}".rstrip())
