"""Run requests: what starts one run, by reference (``dealflow.model.run.RunRequest``).

The dispatcher builds them as plain data from a change (``request_data``); test mode, manual starts
and tests build them from models through the same code (``run_request``). A request names the deal
and the automation's saved version instead of carrying them: the deal, the automation and the old
deal once made it 271–463 KiB, past the durable execution's 256 KiB input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dealflow.engine.changes import ChangeKind, DealChange, diff
from dealflow.engine.checkpoints import to_json
from dealflow.engine.compiled import CompiledAutomation
from dealflow.language.conditions import compile_condition

if TYPE_CHECKING:  # the dispatcher imports this module: no models at import (cold start)
    from dealflow.model import Deal, RunRequest
    from dealflow.model.catalog import Automation

_sha256 = hashlib.sha256


def run_id_for(event_id: str, automation_id: str) -> str:
    """The durable execution name: same record + same automation = same run (``RequestMaker``
    names its runs the same way, from the record's part hashed with each automation's id)."""
    hashed = _sha256(f"{event_id}\x1f{automation_id}".encode()).hexdigest()
    return f"run-{hashed[:48]}"


# A compared value longer than this travels as its digest: ``changed`` on a 120 KB notes field still
# tells a change apart, and the request stays small (``changed_from`` a text that long never holds).
_LONGEST_COMPARED = 1_000


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {"sha256": hashlib.sha256(v.encode()).hexdigest()}
        if isinstance(v, str) and len(v) > _LONGEST_COMPARED
        else v
        for name, v in to_json(values).items()
    }


def compared_values(change: DealChange, compared: frozenset[str]) -> dict[str, Any]:
    """The change that started a run, as far as the automation's ``changed*`` conditions compare
    with it: the compared fields as the change left them (``changed``) and, of those, the ones it
    changed as they were before (``previous``; None: the item is new). Whenever those conditions are
    checked — at once or after a wait — they judge that change, not what happened since; every other
    value is the item's as it is then."""
    if not compared:
        return {"previous": None if change.kind is ChangeKind.CREATED else {}, "changed": {}}
    changed = _compact(change.facts(compared) or {})
    if change.kind is ChangeKind.CREATED:
        return {"previous": None, "changed": changed}
    moved = compared & change.changed_fields
    return {"previous": _compact(change.facts(moved, before=True) or {}) if moved else {}, "changed": changed}


class RequestMaker:
    """The run requests one change starts, from one start (``started_by``, ``target_id``): what
    they share (the deal, its version, the causation chain, the start) worked out once, then one
    plain dict per run, named as ``run_id_for`` names it. The requests of one change share their
    values (the chain and the empty comparisons included): plain data that is read, never changed
    (``RunRequest`` validation copies it)."""

    __slots__ = ("_change", "_prefix", "_shared")

    def __init__(
        self, change: DealChange, event_id: str, started_by: Mapping[str, Any], target_id: str | None = None
    ) -> None:
        cause = change.cause
        self._change = change
        self._prefix = f"{event_id}\x1f".encode()
        self._shared = {
            "tenant_id": change.tenant_id,
            "event_id": event_id,
            "deal_id": change.deal_id,
            "entity": change.entity,
            "deal_version": int(change.value("version") or 1),
            "started_by": started_by,
            "target_id": target_id,
            "depth": (int(cause["depth"]) if cause else 0) + 1,
            "chain": list(cause.get("chain", ())) if cause else [],
            # What compared_values says of no fields.
            "previous": {} if change.kind is not ChangeKind.CREATED else None,
            "changed": {},
        }

    def __call__(self, compiled: CompiledAutomation) -> dict[str, Any]:
        """A run request as plain data, in ``RunRequest``'s shape (see ``request_data``)."""
        data = self._shared.copy()  # cheaper than a literal spreading it
        data["run_id"] = "run-" + _sha256(self._prefix + compiled.name_key).hexdigest()[:48]
        data["automation"] = compiled.ref
        if compiled.compared:
            data.update(compared_values(self._change, compiled.compared))
        return data


def request_data(
    change: DealChange,
    compiled: CompiledAutomation,
    event_id: str,
    started_by: Mapping[str, Any],
    target_id: str | None = None,
) -> dict[str, Any]:
    """A run request as plain data, in ``RunRequest``'s shape: references, not items (the deal, the
    automation and the old deal once made it 271–463 KiB, past the runner's 256 KiB input)."""
    return RequestMaker(change, event_id, started_by, target_id)(compiled)


def run_request(
    item: Deal,
    automation: Automation,
    event_id: str,
    started_by: Mapping[str, Any],
    *,
    before: Deal | None = None,
    target_id: str | None = None,
    run_id: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> RunRequest:
    """A run request for ``automation`` on ``item`` (changed from ``before``, when given), built as
    the dispatcher builds them: test mode, manual starts and tests use it too."""
    change = diff(before, item)
    planned = request_data(
        change, CompiledAutomation(automation, compile_condition(None)), event_id, started_by, target_id
    )
    if run_id is not None:
        planned["run_id"] = run_id
    from dealflow.model import RunRequest

    return RunRequest.model_validate({**planned, "parameters": dict(parameters or {})})
