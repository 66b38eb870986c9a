"""Warnings about stored automation: broken references (a pipeline, stage, field, user or constant
it names is gone — the automation is flagged and skipped, never deleted) and loops (enabled
automation that can start each other in a circle). ``GET /warnings`` lists them; the helpers here
tell a write's response which automation it broke."""

from __future__ import annotations

from dataclasses import asdict

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import TypeAdapter

from dealflow.api.context import DepsProvider, caller, known
from dealflow.api.schemas import AutomationWarnings, AutomationWritten, BrokenAutomation, WarningList
from dealflow.authoring.loops import Loop, find_loops, loop_through
from dealflow.engine.compiled import TenantAutomation
from dealflow.engine.references import broken_since as newly_broken
from dealflow.model.catalog import Automation

_WRITTEN: TypeAdapter[AutomationWritten] = TypeAdapter(AutomationWritten)


def broken_since(before: TenantAutomation, after: TenantAutomation) -> list[BrokenAutomation]:
    """What a change broke, as its answer's ``broken_automation`` lists it (``references.broken_since``)."""
    return [BrokenAutomation(**asdict(b)) for b in newly_broken(before, after)]


def loop_of(known: TenantAutomation, automation_id: str) -> Loop | None:
    """The loop a stored, enabled automation is part of (members start with it), if any."""
    automation = known.by_id.get(automation_id)
    if automation is None or not automation.enabled:
        return None
    return loop_through(known.by_id.values(), automation_id)


def reported(known: TenantAutomation, stored: Automation) -> AutomationWritten:
    """A stored automation with its warnings and the loop it is part of, as a write answers it."""
    body = {
        **stored.model_dump(by_alias=True),
        "warnings": known.warnings.get(stored.id, []),
        "loop_warning": loop_of(known, stored.id),
    }
    return _WRITTEN.validate_python(body)


def warning_list(known: TenantAutomation) -> WarningList:
    texts: dict[str, list[str]] = {a: list(w) for a, w in known.warnings.items()}
    loops = find_loops(known.by_id.values())
    for loop in loops:
        text = f"automation loop: {' → '.join([*loop.members, loop.members[0]])} ({loop.reason})"
        for member in loop.members:
            texts.setdefault(member, []).append(text)
    items = [
        AutomationWarnings(automation_id=a, name=known.by_id[a].name, kind=known.by_id[a].kind, warnings=w)
        for a, w in sorted(texts.items())
    ]
    return WarningList(items=items, loops=loops)


def router(deps: DepsProvider) -> Router:
    r = Router()

    @r.get(
        "/warnings",
        summary="Automation with broken references or in a loop",
        tags=["automation"],
        description="Broken automation is skipped by the dispatcher (each skip is in the run log) "
        "until what it names exists again or it is changed.",
    )
    def list_warnings() -> WarningList:
        return warning_list(known(deps(), caller(r)))

    return r
