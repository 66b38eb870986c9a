"""A business process started by hand on one deal or lead, with its parameters: the one way to do
it, for the API (``POST /deals/{deal_id}/runs``) and the local harness (``stack.start_process``).

The parameters are checked against the ones the process declares (each typed; one without a
default is required; an unknown name is refused), the process must be switched on, start by hand,
run on the item's entity and pipeline, and have no broken references. The run is then started
through the ``RunStarter`` port, as the dispatcher starts runs: its name comes from the start's
``request_id``, so repeating a start is a no-op. Without a ``request_id`` the start is named after
what it starts — the deal as it stands (its version), the process (its version) and the parameter
values — so a retried request or a double click starts one run, while the same start after the
deal changed is another one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from dealflow.engine.compiled import TenantAutomation
from dealflow.engine.run_requests import run_id_for, run_request
from dealflow.model import Deal, RunRequest, TypedValue
from dealflow.model.process import BusinessProcess
from dealflow.ports import RunStarter

REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class ManualStartRefused(ValueError):
    """What keeps a process from starting by hand, each problem naming the field of the start
    (``process_id``, ``parameters.days``) as the API's 422 does."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['problem']}" for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class ManualStart:
    run_id: str
    started: bool  # False: a start of this name was already made (the run it made is the answer)


def _process_problems(process: BusinessProcess, item: Deal, flagged: list[str]) -> list[str]:
    found = []
    if "manual" not in process.start_on:
        found.append(
            f"business process '{process.id}' is not started by hand (it starts on {', '.join(process.start_on)})"
        )
    if not process.enabled:
        found.append(f"business process '{process.id}' is switched off")
    if item.entity != process.entity:
        found.append(f"business process '{process.id}' runs on {process.entity}s, not {item.entity}s")
    if process.pipeline_id is not None and process.pipeline_id != item.pipeline_id:
        found.append(
            f"business process '{process.id}' runs in pipeline '{process.pipeline_id}', "
            f"not '{item.pipeline_id}' where {item.entity} '{item.id}' is"
        )
    if flagged:
        found.append(f"business process '{process.id}' has broken references: {'; '.join(flagged)}")
    return found


def parameter_values(
    process: BusinessProcess, given: Mapping[str, Any], known: TenantAutomation
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The values of every parameter ``process`` declares (given, else its default) in their types,
    and a problem for each one missing, unknown or of the wrong type."""
    problems: list[dict[str, str]] = []
    declared = process.parameters
    for name in sorted(set(given) - set(declared)):
        has = f"it has {', '.join(sorted(declared))}" if declared else "it takes none"
        problems.append(
            {
                "field": f"parameters.{name}",
                "problem": f"business process '{process.id}' has no parameter {name} ({has})",
            }
        )
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        value = given.get(name, spec.value)
        if value is None:
            problems.append({"field": f"parameters.{name}", "problem": f"required: a {spec.type} value"})
            continue
        try:
            values[name] = TypedValue(type=spec.type, value=value).value
        except ValidationError as exc:
            message = str(exc.errors()[0].get("msg", "invalid")).removeprefix("Value error, ")
            problems.append({"field": f"parameters.{name}", "problem": message.removeprefix("value: ")})
            continue
        if spec.type == "user" and known.tenant.user(str(values[name])) is None:
            problems.append({"field": f"parameters.{name}", "problem": f"no user '{values[name]}' in this tenant"})
    return values, problems


def _derived_request_id(item: Deal, process: BusinessProcess, values: Mapping[str, Any]) -> str:
    # Equal numbers name the same start however they were written (5, "5.0").
    same = {k: v.normalize() if isinstance(v, Decimal) else v for k, v in values.items()}
    what = {"deal": item.id, "deal_version": item.version, "process_version": process.version, "values": same}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:32]


def manual_request(
    item: Deal, process: BusinessProcess, values: Mapping[str, Any], request_id: str | None = None
) -> RunRequest:
    """The run request of a start by hand: the item as it is now (a new chain of automation, so no
    causation), the process as it is now, its checked parameter values."""
    key = request_id or _derived_request_id(item, process, values)
    # Tenant and item in the name: request ids are the callers', execution names are global.
    event_id = f"manual:{item.tenant_id}:{item.id}:{key}"
    started = {"pipeline_id": item.pipeline_id, "stage_id": item.stage_id, "event": "manual"}
    item = item.model_copy(update={"caused_by": None})
    return run_request(item, process, event_id, started, run_id=run_id_for(event_id, process.id), parameters=values)


def start_by_hand(
    starter: RunStarter,
    known: TenantAutomation,
    item: Deal,
    process_id: str,
    parameters: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> ManualStart:
    """Start business process ``process_id`` of ``known`` on ``item``, or ManualStartRefused naming
    every problem. LookupError when the tenant has no such business process."""
    process = known.by_id.get(process_id)
    if not isinstance(process, BusinessProcess):
        raise LookupError(f"no business process '{process_id}'")
    problems = [
        {"field": "process_id", "problem": p}
        for p in _process_problems(process, item, known.warnings.get(process.id, []))
    ]
    values, parameter_problems = parameter_values(process, parameters or {}, known)
    problems += parameter_problems
    if problems:
        raise ManualStartRefused(problems)
    request = manual_request(item, process, values, request_id)
    return ManualStart(request.run_id, starter.start(request))
