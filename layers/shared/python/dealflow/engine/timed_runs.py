"""Runs the clock starts: a business process's schedule firing, or the date in an item's field
arriving (``dealflow.model.timing``). What each one's request is, which items a schedule runs for,
when an item's date trigger is due — the questions the tick, its jobs, the dispatcher and test
mode ask alike.

A run's name is its start's identity: (process, fire time, item) for a schedule, (process, item,
field, date value, offset) for a date trigger. A redelivered tick, a page worked twice or a
timer armed twice starts no second run; a date moved to another value is another run, the same
value again is not."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dealflow.engine.changes import flat
from dealflow.engine.run_requests import run_id_for, run_request
from dealflow.language.conditions import compile_condition
from dealflow.language.schedules import next_fire, zone
from dealflow.model import Deal, RunRequest, RunStep
from dealflow.model.process import BusinessProcess
from dealflow.model.timing import DateTrigger


def utc_text(at: datetime) -> str:
    """A time as timers key it: UTC to the second, fixed width (sorts as it compares)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def spec_of(process: BusinessProcess) -> str:
    """What the process's timers were armed for: its schedule or date trigger and the items it
    concerns. Saved again with the same, its timers stand; with another, they are stale."""
    what = process.model_dump(mode="json", include={"entity", "pipeline_id", "schedule", "on_date"})
    return hashlib.sha256(repr(sorted(what.items())).encode()).hexdigest()[:16]


def next_fire_time(process: BusinessProcess, after: datetime) -> datetime | None:
    assert process.schedule is not None
    return next_fire(process.schedule.expression, process.schedule.timezone, after)


def in_scope(process: BusinessProcess, item: Deal) -> bool:
    """Whether the item is of the process's entity and pipeline."""
    return item.entity == process.entity and process.pipeline_id in (None, item.pipeline_id)


def schedule_matches(process: BusinessProcess, item: Deal, tenant_values: dict[str, Any]) -> bool:
    """Whether a schedule's fire runs the process for this item: its entity, pipeline, stages and
    condition."""
    schedule = process.schedule
    assert schedule is not None
    if not in_scope(process, item) or (schedule.stage_ids and item.stage_id not in schedule.stage_ids):
        return False
    return schedule.condition is None or compile_condition(schedule.condition)({**(flat(item) or {}), **tenant_values})


def date_value(item: Deal, trigger: DateTrigger) -> str | None:
    """The item's date in the trigger's field, as stored (None: empty)."""
    value = item.value(trigger.field)
    return None if value in (None, "") else str(value)


def due_at(trigger: DateTrigger, value: str) -> datetime | None:
    """When the trigger is due for a field holding ``value`` (a date, or a date and time); None
    when the value is no date."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            hour, minute = (int(part) for part in trigger.time.split(":"))
            moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone(trigger.timezone))
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone(trigger.timezone))
    except ValueError:
        return None
    return (moment + timedelta(seconds=trigger.offset_seconds)).astimezone(UTC)


def scheduled_request(item: Deal, process: BusinessProcess, fire_time: str) -> RunRequest:
    """The run a schedule's fire at ``fire_time`` starts for ``item``."""
    event_id = f"schedule:{item.tenant_id}:{process.id}:{fire_time}:{item.id}"
    started = {"pipeline_id": item.pipeline_id, "stage_id": item.stage_id, "event": "schedule", "fire_time": fire_time}
    return _request(item, process, event_id, started)


def date_request(item: Deal, process: BusinessProcess, value: str, due: str) -> RunRequest:
    """The run the date ``value`` in the trigger's field starts for ``item`` when it is due."""
    trigger = process.on_date
    assert trigger is not None
    offset = f"{trigger.offset_seconds}@{trigger.time}@{trigger.timezone}"
    event_id = f"date:{item.tenant_id}:{process.id}:{item.id}:{trigger.field}={value}:{offset}"
    started = {
        "pipeline_id": item.pipeline_id,
        "stage_id": item.stage_id,
        "event": "date",
        "date_field": trigger.field,
        "date_value": value,
        "due_at": due,
    }
    return _request(item, process, event_id, started)


def _request(item: Deal, process: BusinessProcess, event_id: str, started: dict[str, Any]) -> RunRequest:
    # A new chain of automation (no causation); the name hashed: event ids are capped at 200.
    key = hashlib.sha256(event_id.encode()).hexdigest()[:40]
    short = f"{started['event']}:{item.tenant_id}:{key}"
    item = item.model_copy(update={"caused_by": None})
    return run_request(item, process, short, started, run_id=run_id_for(event_id, process.id))


def timing_step(process: BusinessProcess, item: Deal, tenant_values: dict[str, Any], now: datetime) -> RunStep | None:
    """Test mode's first step for a process the clock starts: when it would run for this item, or
    why it would not. None for a process that starts on changes only."""
    detail: dict[str, Any] = {}
    outcome = "passed"
    if process.schedule is not None:
        fire = next_fire_time(process, now)
        detail |= {"expression": process.schedule.expression, "timezone": process.schedule.timezone}
        detail["next_fire_time"] = utc_text(fire) if fire else None
        if not schedule_matches(process, item, tenant_values):
            outcome = "not met"
            detail["why"] = f"{item.entity} '{item.id}' is not among the items the schedule runs for"
        else:
            detail["would"] = f"would run at {detail['next_fire_time']} for {item.entity} '{item.id}'"
    if process.on_date is not None:
        value = date_value(item, process.on_date)
        due = due_at(process.on_date, value) if value else None
        detail |= {"date_field": process.on_date.field, "date_value": value, "due_at": utc_text(due) if due else None}
        if due is None:
            outcome = "not met"
            detail["why"] = f"field '{process.on_date.field}' holds no date"
        elif due <= now:
            detail["would"] = f"was due at {utc_text(due)}: a date already past when armed does not run"
        else:
            detail["would"] = f"would run at {utc_text(due)} ({process.on_date.field} = {value})"
    if not detail:
        return None
    return RunStep(name="timing", kind="condition", outcome=outcome, at=utc_text(now), detail=detail)
