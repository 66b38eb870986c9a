"""Automation definitions in AutomationTable, with a per-container cache (the tenant's settings
item, which ``AutomationStore`` manages too, is ``store/tenant_settings.py``'s).

Every definition write bumps the tenant's ``automation_version`` in the same transaction, so a
dispatcher can trust its compiled copy after reading one small item.

Every saved version of a rule, tunnel, trigger or process is also kept as an immutable item
(``AVER#<id>#<version>#<content hash>``): a run request names the automation by id and version
and the runner loads exactly that, however the automation changed since. The version item is
written just before the transaction that saves the definition, not inside it: a transaction
holds 100 items and bulk moves and imports already use 99 of them. Written first, a version is
readable before any dispatcher can see it; a save that then fails leaves an item nothing names.
The content hash in the key keeps two saves of the same version number (the local harness writes
edits without bumping it) from overwriting each other. These items are also the automation's
history (``store/history.py``, which keeps pipelines', fields' and constants' versions alike): once
the save succeeded, the item is written again with who saved it, when and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from dealflow.model import FieldDefinition, Pipeline, TypedValue
from dealflow.model.base import stored
from dealflow.model.catalog import AUTOMATION_MODELS, STORED_KINDS, Definition, content_digest
from dealflow.model.versions import VersionNote
from dealflow.model.workflow import FieldStepWorkflow
from dealflow.ports import ANY, Compiler
from dealflow.store.drafts import DraftStore, SavedTestStore
from dealflow.store.history import NOTE, VersionedKind, VersionHistory, stamped, version_prefix
from dealflow.store.items import cancellation_reasons, plain, query_all, to_item
from dealflow.store.tenant_settings import TenantSettings, UnknownTenant
from dealflow.store.transactions import transact
from dealflow.store.users import TENANT_SK

_DEFINITION_PREFIX = "DEF#"
# Definitions are read this many to a page: a page is parsed whole (DynamoDB JSON, then Python
# values) before its models are built, so a tenant's 1 MB page held up to about 10 MB at once, the
# dispatcher's peak over its first batch (bench/dispatcher_rss.py). Read when a tenant's automation
# version moves, not per batch: the extra round trips are paid once per change of automation.
DEFINITIONS_PAGE = 250
_KINDS: dict[str, type[Definition]] = {
    "PIPELINE": Pipeline,
    "FIELD": FieldDefinition,
    **STORED_KINDS,
    "WORKFLOW": FieldStepWorkflow,
}


class StaleDefinition(RuntimeError):
    """The stored definition is not the version the write was based on."""


def _definition_sk(model: Definition) -> str:
    if isinstance(model, FieldDefinition):
        return f"{_DEFINITION_PREFIX}FIELD#{model.code}"
    kind = next(k for k, cls in _KINDS.items() if isinstance(model, cls))
    return f"{_DEFINITION_PREFIX}{kind}#{model.id}"


def _history_of(model: Definition) -> tuple[VersionedKind, str] | None:
    """Under which kind and id the history keeps ``model``'s versions (field–step workflows: none)."""
    if isinstance(model, Pipeline):
        return "pipeline", model.id
    if isinstance(model, FieldDefinition):
        return "field", model.code
    if isinstance(model, FieldStepWorkflow):
        return None
    return "automation", model.id


def _timed(models: Sequence[Definition]) -> bool:
    # Any business process: one saved without the schedule or date trigger it had must be told too.
    return any(isinstance(model, STORED_KINDS["PROCESS"]) for model in models)


class AutomationStore(TenantSettings):
    def __init__(self, table: Any, compiler: Compiler, on_timed_saved: Callable[[str], object] | None = None) -> None:
        self._table = table
        self._compiler = compiler
        self._cache: dict[str, Any] = {}
        self.history = VersionHistory(table)
        self.drafts = DraftStore(table)
        self.saved_tests = SavedTestStore(table)
        # Told the tenant after a business process was written (it may have a schedule or a date
        # trigger, or had one): its timers are worked out again (``TimerTable.request_arm``). Every
        # save path (API, import, copy and move, bulk, the harness) comes here.
        self._on_timed_saved = on_timed_saved

    def _saved(self, tenant_id: str, models: Sequence[Definition]) -> None:
        if self._on_timed_saved is not None and _timed(models):
            self._on_timed_saved(tenant_id)

    def _keep(self, tenant_id: str, models: Sequence[Definition], note: VersionNote | None) -> None:
        for model in models:
            where = _history_of(model)
            if where is not None:
                body = model.model_dump(mode="python", exclude_none=True, by_alias=True)
                self.history.keep(tenant_id, *where, model.version, content_digest(model), body, note)

    def _keep_versions(self, tenant_id: str, models: Sequence[Definition]) -> None:
        """Store each automation's saved version as its own immutable item before it is saved (see
        the module's doc); its note comes with ``_note_versions`` once the save succeeded."""
        self._keep(tenant_id, [m for m in models if isinstance(m, AUTOMATION_MODELS)], None)

    def _note_versions(self, tenant_id: str, models: Sequence[Definition], note: VersionNote | None) -> None:
        """Once a save succeeded: each saved definition's version with who saved it, when and why."""
        self._keep(tenant_id, models, stamped(note))

    def versions(self, tenant_id: str, automation_id: str, version: int) -> list[Any]:
        """Every content saved as ``version`` of the automation (usually one). Not cached: a run
        reads it once per invocation, and the harness may save a second content under one number."""
        found = []
        for item in query_all(self._table, tenant_id, version_prefix("automation", automation_id, version)):
            kind = "PROCESS" if item["kind"] == "business_process" else str(item["kind"]).upper()
            found.append(STORED_KINDS[kind].model_validate(plain(item, "tenant_id", "sk", NOTE)))
        return found

    def _with_bump(
        self, tenant_id: str, write: dict[str, Any], stale: str, automation_version: int | None = None
    ) -> None:
        """One write of a definition together with the tenant's automation-version bump, so every
        cached copy of the tenant's automation sees the change. With ``automation_version`` the
        write also requires the tenant's automation to be still at that version (a decision taken
        over all of it, like a plan's cap, stays true)."""
        bump = self._bump(tenant_id, automation_version)["Update"]
        try:
            transact(self._table.meta.client, [write, {"Update": bump}])
        except ClientError as exc:
            reasons = cancellation_reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise StaleDefinition(stale) from exc
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                if automation_version is not None:  # the tenant was read just before: it moved on
                    raise StaleDefinition(f"the tenant's automation is past version {automation_version}") from exc
                raise UnknownTenant(f"unknown tenant '{tenant_id}'") from exc
            raise

    def _bump(
        self, tenant_id: str, at_version: int | None = None, constants: dict[str, TypedValue] | None = None
    ) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self._table.name,
            "Key": {"tenant_id": tenant_id, "sk": TENANT_SK},
            "UpdateExpression": "ADD automation_version :one",
            "ConditionExpression": "attribute_exists(sk)",
            "ExpressionAttributeValues": {":one": 1},
        }
        if at_version is not None:
            # A tenant that never had a definition written has no automation_version attribute yet.
            update["ConditionExpression"] = "attribute_exists(sk) AND (automation_version = :at" + (
                " OR attribute_not_exists(automation_version))" if at_version == 0 else ")"
            )
            update["ExpressionAttributeValues"][":at"] = at_version
        if constants is not None:
            update["UpdateExpression"] = "SET constants = :c ADD automation_version :one"
            update["ExpressionAttributeValues"][":c"] = {k: to_item(v) for k, v in constants.items()}
        return {"Update": update}

    def _put(self, tenant_id: str, model: Definition, expected_version: int | object | None) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self._table.name,
            "Item": to_item(model, tenant_id=tenant_id, sk=_definition_sk(model)),
        }
        if expected_version is None:
            put["ConditionExpression"] = "attribute_not_exists(sk)"
        elif expected_version is not ANY:
            put |= {
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":v": expected_version},
            }
        return {"Put": put}

    def write_definitions(
        self,
        tenant_id: str,
        puts: Sequence[tuple[Definition, int | object | None]] = (),
        deletes: Sequence[tuple[Definition, int | object]] = (),
        *,
        at_version: int | None = None,
        constants: dict[str, TypedValue] | None = None,
        note: VersionNote | None = None,
    ) -> None:
        """Many puts and deletes of definitions as one transaction with the automation-version bump:
        all written or none. Each put is (model, expected version: None = must not exist yet, ANY =
        unchecked), each delete (stored model, expected version). With ``at_version`` the tenant's
        automation_version must still be that; ``constants`` replaces the tenant's constants in the
        same transaction. More than MAX_WRITES definitions (DynamoDB's 100 items, one is the bump),
        an item over 400 KB or 4 MB in all is ``PayloadTooLarge`` naming the limit, nothing written;
        a failed condition is ``StaleDefinition`` naming the definition."""
        writes = [self._put(tenant_id, model, expected) for model, expected in puts]
        for model, expected in deletes:
            delete: dict[str, Any] = {
                "TableName": self._table.name,
                "Key": {"tenant_id": tenant_id, "sk": _definition_sk(model)},
                "ConditionExpression": "attribute_exists(sk)",
            }
            if expected is not ANY:
                delete |= {
                    "ConditionExpression": "#v = :v",
                    "ExpressionAttributeNames": {"#v": "version"},
                    "ExpressionAttributeValues": {":v": expected},
                }
            writes.append({"Delete": delete})
        if not writes and constants is None:
            return
        names = [_definition_sk(m).removeprefix(_DEFINITION_PREFIX) for m, _ in (*puts, *deletes)]
        self._keep_versions(tenant_id, [model for model, _ in puts])
        try:
            transact(self._table.meta.client, [*writes, self._bump(tenant_id, at_version, constants)])
        except ClientError as exc:
            reasons = cancellation_reasons(exc)
            failed = [names[i] for i, code in enumerate(reasons[: len(names)]) if code == "ConditionalCheckFailed"]
            if failed:
                raise StaleDefinition(f"{', '.join(failed)} changed meanwhile") from exc
            if len(reasons) > len(names) and reasons[len(names)] == "ConditionalCheckFailed":
                raise StaleDefinition(
                    f"the automation of tenant '{tenant_id}' changed since version {at_version}"
                ) from exc
            raise
        self._note_versions(tenant_id, [model for model, _ in puts], note)
        if constants is not None:
            for name, typed in constants.items():
                self._note_constant(tenant_id, name, typed, note)
        self._saved(tenant_id, [model for model, _ in (*puts, *deletes)])

    def put_definition(
        self,
        tenant_id: str,
        model: Definition,
        expected_version: int | object | None = ANY,
        *,
        automation_version: int | None = None,
        note: VersionNote | None = None,
    ) -> None:
        """Store a pipeline, field or automation and bump the tenant's automation version, atomically.
        ``expected_version``: ANY (last write wins), None (must not exist yet) or the stored version
        the write is based on; otherwise ``StaleDefinition``. ``automation_version``: when given,
        the tenant's automation as a whole must still be at it (else ``StaleDefinition``)."""
        stale = "it was created meanwhile"
        if expected_version is not None and expected_version is not ANY:
            stale = f"it changed since version {expected_version}"
        self._keep_versions(tenant_id, [model])
        self._with_bump(tenant_id, self._put(tenant_id, model, expected_version), stale, automation_version)
        self._note_versions(tenant_id, [model], note)
        self._saved(tenant_id, [model])

    def delete_definition(self, tenant_id: str, model: Definition) -> None:
        self._with_bump(
            tenant_id,
            {
                "Delete": {
                    "TableName": self._table.name,
                    "Key": {"tenant_id": tenant_id, "sk": _definition_sk(model)},
                    "ConditionExpression": "attribute_exists(sk)",
                }
            },
            "it was deleted meanwhile",
        )
        self._saved(tenant_id, [model])

    def definitions(self, tenant_id: str) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {kind: [] for kind in _KINDS}
        for item in query_all(self._table, tenant_id, _DEFINITION_PREFIX, Limit=DEFINITIONS_PAGE):
            kind = item["sk"].split("#", 2)[1]
            found[kind].append(stored(_KINDS[kind], plain(item, "tenant_id", "sk")))
        return found

    def load(self, tenant_id: str) -> Any:
        """The tenant's automation as ``compiler`` makes it, recompiled only when its version moved;
        otherwise the cached copy, refreshed with the tenant as it is now (users and constants
        change without a version bump)."""
        tenant = self.get_tenant(tenant_id)
        cached = self._cache.get(tenant_id)
        if cached is not None and cached.version == tenant.automation_version:
            return self._compiler.refresh(cached, tenant)
        compiled = self._compiler.compile(tenant, self.definitions(tenant_id))
        self._cache[tenant_id] = compiled
        return compiled
