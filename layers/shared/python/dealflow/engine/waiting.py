"""Runs waiting for an event: what a ``wait_for`` node waits for, whether a deal shows it, and
resuming the waiting runs when it comes.

A run that reaches ``wait_for`` makes a durable callback and registers itself as a waiter of its
deal (``ports.Waiters``: one item per run and node, found by the deal). The dispatcher (a deal
change: a field condition met, a stage reached, a step done) and the webhook receiver (an event
kind) look the deal's waiters up — only for a tenant that has a ``wait_for`` node at all
(``AutomationIndex.waits_for_events``) — and resume those whose event came: the waiter is claimed
(a conditional delete) before its callback is completed, so an event that comes twice, or a stream
record delivered again, resumes a run once. Nothing polls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dealflow.engine.changes import DealChange, flat, tenant_facts
from dealflow.engine.compiled import TenantAutomation
from dealflow.language.conditions import compile_condition
from dealflow.model import Deal
from dealflow.model.conditions import Clause
from dealflow.ports import RunResumer, Waiter, Waiters

# What a received branch may read of its event (``run.event``), as JSON: the callback's result and
# the checkpoint carry it, so it stays far below their 256 KB.
MAX_EVENT_BYTES = 16_384
# A waiter outlives its timeout by this much (DynamoDB's TTL then removes it, should its run
# never have): the registry never grows with runs long gone.
WAITER_GRACE_SECONDS = 86_400


def source_of(until: Mapping[str, Any]) -> str:
    """Where the event a waiter waits for comes from: the webhook receiver or the deal's changes."""
    return "webhook" if until.get("kind") == "webhook" else "deal"


def describe(until: Mapping[str, Any]) -> str:
    """What a wait_for node waits for, in words (the run log, test mode)."""
    kind = until.get("kind")
    if kind == "webhook":
        event = until.get("custom_event") if until.get("event") == "custom" else until.get("event")
        return f"webhook event '{event}'"
    if kind == "stage_reached":
        pipeline = f" of pipeline '{until['pipeline_id']}'" if until.get("pipeline_id") else ""
        return f"stage '{until['stage_id']}'{pipeline} reached"
    if kind == "step_done":
        return f"step '{until['step_id']}' done"
    return f"the condition {_condition_text(until.get('condition'))} met"


def _condition_text(condition: Any) -> str:
    if not isinstance(condition, Mapping):
        return "?"
    for group in ("all", "any"):
        if group in condition:
            return f"{group}(" + ", ".join(_condition_text(c) for c in condition[group]) + ")"
    value = condition.get("value")
    return " ".join(str(p) for p in (condition.get("field"), condition.get("op"), value) if p is not None)


def duration(seconds: int) -> str:
    """A timeout in words: '7 days', '4 hours', '90 minutes'."""
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" + ("" if count == 1 else "s")
    return f"{seconds} seconds"


def shown_by(until: Mapping[str, Any], deal: Deal, tenant_values: Mapping[str, Any]) -> dict[str, Any] | None:
    """The event, when ``deal`` as it is shows what ``until`` waits for (never a webhook event)."""
    kind = until.get("kind")
    if kind == "stage_reached":
        if deal.stage_id == until["stage_id"] and until.get("pipeline_id") in (None, deal.pipeline_id):
            return {"kind": kind, "pipeline_id": deal.pipeline_id, "stage_id": deal.stage_id}
    elif kind == "step_done":
        done = deal.steps.get(until["step_id"])
        if done is not None:
            return {"kind": kind, "step_id": until["step_id"], **done.model_dump(mode="json", exclude_none=True)}
    elif kind == "field":
        from pydantic import TypeAdapter

        from dealflow.model.conditions import Condition

        condition: Condition = TypeAdapter(Condition).validate_python(until["condition"])
        facts = {**(flat(deal) or {}), **tenant_values}
        if compile_condition(condition)(facts, None, []):
            fields = sorted(_fields(condition))
            return {"kind": kind, "fields": {name: facts.get(name) for name in fields}}
    return None


def _fields(condition: Any) -> set[str]:
    if isinstance(condition, Clause):
        return {condition.field}
    inner = getattr(condition, "all", None) or getattr(condition, "any", None) or []
    return {name for c in inner for name in _fields(c)}


def webhook_matches(until: Mapping[str, Any], kind: str, custom_event: str | None) -> bool:
    return (
        until.get("kind") == "webhook"
        and until.get("event") == kind
        and (kind != "custom" or until.get("custom_event") == custom_event)
    )


def bounded_event(event: Mapping[str, Any]) -> str:
    """The event as the callback's payload: JSON, its ``data`` dropped (and said so) past
    ``MAX_EVENT_BYTES``."""
    text = json.dumps(event, default=str, separators=(",", ":"))
    if len(text.encode()) <= MAX_EVENT_BYTES:
        return text
    kept = {k: v for k, v in event.items() if k != "data"}
    kept["truncated"] = f"the event's data exceeded {MAX_EVENT_BYTES:,} bytes and was left out"
    return json.dumps(kept, default=str, separators=(",", ":"))[:MAX_EVENT_BYTES]


class Resumer:
    """Resumes the runs waiting for an event about a deal (the dispatcher's and the receiver's)."""

    def __init__(self, waiters: Waiters, resumer: RunResumer) -> None:
        self.waiters, self._resumer = waiters, resumer

    def resume(self, waiter: Waiter, event: Mapping[str, Any]) -> bool:
        """Claim the waiter, then complete its callback; False when someone else claimed it or the
        callback had closed (the run timed out meanwhile). A failure to complete it puts the
        waiter back and is raised: the stream record or the sender's request is tried again."""
        if not self.waiters.claim(waiter):
            return False
        try:
            return self._resumer.resume(waiter.callback_id, bounded_event(event))
        except Exception:
            self.waiters.add(waiter)
            raise

    def on_change(self, tenant_id: str, deal: Deal, tenant_values: Mapping[str, Any]) -> list[str]:
        """After a change of ``deal``: resume the runs waiting for what it now shows; their ids."""
        resumed = []
        for waiter in self.waiters.of_deal(tenant_id, deal.id):
            if waiter.on != "deal":
                continue
            event = shown_by(waiter.until, deal, tenant_values)
            if event is not None and self.resume(waiter, event):
                resumed.append(waiter.run_id)
        return resumed

    def on_deal_change(self, change: DealChange, automation: TenantAutomation) -> list[str]:
        """The dispatcher's part: a stream record's new item, for a tenant with wait_for nodes."""
        from dealflow.model.deal import parse_item

        if change.new_item is None:
            return []
        deal = parse_item(change.new_item)
        return self.on_change(change.tenant_id, deal, tenant_facts(automation.tenant))

    def on_webhook(self, tenant_id: str, deal_id: str, event: Mapping[str, Any]) -> list[str]:
        """After a webhook event about a deal: resume the runs waiting for its kind; their ids."""
        resumed = []
        for waiter in self.waiters.of_deal(tenant_id, deal_id):
            matches = waiter.on == "webhook" and webhook_matches(waiter.until, event["kind"], event.get("custom_event"))
            if matches and self.resume(waiter, event):
                resumed.append(waiter.run_id)
        return resumed
