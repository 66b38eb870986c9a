"""What a run starts from: the automation at the version the dispatcher planned with, and a snapshot
of only what that automation references.

A run request names its automation by id, version and content digest (``dealflow.model.run``).
The runner's start step loads that saved version (``AutomationSource.versions``; immutable, so a
replay loads the same content again and checks the digest the start step recorded), and snapshots
the stages, fields, users and constants it references — not every pipeline, field and user of the
tenant, which once made the first checkpoint 321 KB at 200 users, 30 pipelines and 150 fields.

In-flight runs started by the previous release keep running on the function version they started
with (durable executions are pinned to it), so nothing here needs to replay old-shaped checkpoints.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, TypeAdapter

from dealflow.engine.compiled import TenantAutomation
from dealflow.engine.references import references_of
from dealflow.model import Deal, FieldDefinition, Pipeline, RunRequest, Tenant
from dealflow.model.catalog import Automation, content_digest
from dealflow.ports import AutomationSource


def planned(source: AutomationSource[TenantAutomation], request: RunRequest) -> Automation | None:
    """The automation exactly as the dispatcher planned the run with it; None when that version
    is no longer stored (nor is it the current one)."""
    ref = request.automation
    for saved in source.versions(request.tenant_id, ref.id, ref.version):
        if content_digest(saved) == ref.digest:
            return saved
    current = source.load(request.tenant_id).by_id.get(ref.id)  # saved before versions were kept
    if current is not None and current.version == ref.version and content_digest(current) == ref.digest:
        return current
    return None


# The start step records the automation itself when it is this small (as JSON with every non-ASCII
# character escaped, doubled for the SDK's envelope and second escaping): a replay then reads
# nothing outside a step. A larger one is read again on replay — its saved version is immutable, so
# the read is deterministic — rather than pushing the start step towards the 256 KB checkpoint cap.
RECORDED_AUTOMATION_BYTES = 64 * 1024
_AUTOMATION: TypeAdapter[Automation] = TypeAdapter(Automation)


def recorded(automation: Automation) -> dict[str, Any] | None:
    """``automation`` as the start step records it, or None when it is too large to record."""
    data = automation.model_dump(mode="json")
    return data if 2 * len(json.dumps(data, ensure_ascii=True)) <= RECORDED_AUTOMATION_BYTES else None


def replayed(
    loaded: dict[str, Any], source: AutomationSource[TenantAutomation], request: RunRequest
) -> Automation | None:
    """The automation a replay walks: the one the start step recorded, else its saved version."""
    if loaded.get("automation") is not None:
        return _AUTOMATION.validate_python(loaded["automation"])
    return planned(source, request)


def snapshot(automation: Automation, compiled: TenantAutomation, item: Deal | None) -> dict[str, Any]:
    """The part of the tenant a run of ``automation`` on ``item`` uses, as JSON: its pipelines
    (with their stages), fields, users (and the item's responsible user), constants; all variables
    (processes and templates read them by name at run time)."""
    refs = references_of(automation)
    pipelines = {r.name for r in refs if r.kind == "pipeline"}
    pipelines |= {r.pipeline_id for r in refs if r.kind == "stage" and r.pipeline_id}
    users = {r.name for r in refs if r.kind == "user"}
    if item is not None:
        pipelines.add(item.pipeline_id)
        if item.responsible_id:
            users.add(item.responsible_id)
    fields = {r.name for r in refs if r.kind == "field"}
    constants = {r.name for r in refs if r.kind == "constant"}
    tenant = compiled.tenant
    # A user-typed constant or variable must name a user the snapshot holds.
    kept = [v for k, v in tenant.constants.items() if k in constants] + list(tenant.variables.values())
    users |= {str(v.value) for v in kept if v.type == "user" and v.value is not None}
    # Defaults left out (``Snapshot`` puts them back): a stage's semantic and empty steps, repeated
    # for every stage of the item's pipeline, were a fifth of the snapshot.
    return {
        "tenant": {
            "id": tenant.id,
            "name": tenant.name,
            "sender_email": tenant.sender_email,
            "users": [_lean(u) for u in tenant.users if u.id in users],
            "constants": {k: _lean(v) for k, v in tenant.constants.items() if k in constants},
            "variables": {k: _lean(v) for k, v in tenant.variables.items()},
        },
        "pipelines": {p: _lean(compiled.pipelines[p]) for p in pipelines if p in compiled.pipelines},
        "fields": {f: _lean(compiled.fields[f]) for f in fields if f in compiled.fields},
    }


def _lean(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_defaults=True)


class Snapshot:
    """The snapshot typed again from the start step's JSON: numbers are Decimals once more."""

    def __init__(self, loaded: dict[str, Any]) -> None:
        self.tenant = Tenant.model_validate(loaded["tenant"])
        self.pipelines = {pid: Pipeline.model_validate(p) for pid, p in loaded["pipelines"].items()}
        self.fields = {code: FieldDefinition.model_validate(f) for code, f in loaded["fields"].items()}
