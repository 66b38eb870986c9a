"""Every saved version of what a tenant defines — automation, pipelines, fields, constants — as
immutable items in AutomationTable, one mechanism for all four kinds.

A version item is ``<prefix><id>#<number:09d>#<content hash>`` holding the definition's
attributes as saved and a ``version_note`` (who, when, why). Automation keeps the ``AVER#`` items
runs already load their version from (``AutomationStore.versions``); those are written before the
save's transaction (a run must find them), and written again with their note once the save
succeeded, so a save that failed (a 409) leaves an item without a note, which the history shows
only where no saved content of that number exists (items from before versions had notes look
the same). The others are written once their save succeeded. Numbers: a definition's own
``version``; a constant has none, so its versions count up from its last one.
"""

from __future__ import annotations

from typing import Any, Literal

from boto3.dynamodb.conditions import Key

from dealflow import clock
from dealflow.model.versions import SavedVersion, VersionNote
from dealflow.store.items import dynamo_value, plain

VersionedKind = Literal["automation", "pipeline", "field", "constant"]
PREFIXES: dict[VersionedKind, str] = {"automation": "AVER#", "pipeline": "PVER#", "field": "FVER#", "constant": "CVER#"}
NOTE = "version_note"
_KEYS = ("tenant_id", "sk", NOTE)


def stamped(note: VersionNote | None) -> VersionNote:
    """``note`` (or an empty one) with the time its version was saved."""
    return (note or VersionNote()).model_copy(update={"saved_at": clock.now_iso()})


def version_prefix(kind: VersionedKind, item_id: str, number: int | None = None) -> str:
    prefix = f"{PREFIXES[kind]}{item_id}#"
    return prefix if number is None else f"{prefix}{number:09d}#"


def _number(sk: str) -> int:
    return int(sk.rsplit("#", 2)[1])


def _saved(item: dict[str, Any]) -> SavedVersion:
    note = item.get(NOTE) or {}
    return SavedVersion(
        version=_number(item["sk"]),
        saved_by=note.get("saved_by"),
        saved_at=note.get("saved_at"),
        message=note.get("message"),
        body=plain(item, *_KEYS),
    )


def _best(found: list[dict[str, Any]]) -> dict[str, Any]:
    """Of the contents saved under one number, the one whose save succeeded (it has a note), the
    latest of them when the local harness saved several."""
    noted = [i for i in found if i.get(NOTE)]
    if not noted:
        return found[-1]
    return max(noted, key=lambda i: str(i[NOTE].get("saved_at") or ""))


class VersionHistory:
    def __init__(self, table: Any) -> None:
        self._table = table

    def keep(
        self,
        tenant_id: str,
        kind: VersionedKind,
        item_id: str,
        number: int,
        digest: str,
        body: dict[str, Any],
        note: VersionNote | None,
    ) -> None:
        item: dict[str, Any] = {
            **dynamo_value(body),
            "tenant_id": tenant_id,
            "sk": version_prefix(kind, item_id, number) + digest,
        }
        if note is not None:
            item[NOTE] = dynamo_value(note.model_dump(exclude_none=True))
        self._table.put_item(Item=item)

    def _query(self, tenant_id: str, condition: Any, newest_first: bool = True) -> Any:
        params: dict[str, Any] = {
            "KeyConditionExpression": Key("tenant_id").eq(tenant_id) & condition,
            "ScanIndexForward": not newest_first,
        }
        while True:
            page = self._table.query(**params)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def page(
        self, tenant_id: str, kind: VersionedKind, item_id: str, limit: int, before: int | None = None
    ) -> tuple[list[SavedVersion], int | None]:
        """Up to ``limit`` versions, newest first, numbered below ``before`` when given; and the
        number to pass as ``before`` for the next page (None on the last)."""
        prefix = version_prefix(kind, item_id)
        upper = prefix + (f"{before:09d}" if before is not None else "~")
        grouped: list[list[dict[str, Any]]] = []
        for item in self._query(tenant_id, Key("sk").between(prefix, upper)):
            if grouped and _number(grouped[-1][0]["sk"]) == _number(item["sk"]):
                grouped[-1].append(item)
                continue
            if len(grouped) == limit:
                return [_saved(_best(g)) for g in grouped], _number(grouped[-1][0]["sk"])
            grouped.append([item])
        return [_saved(_best(g)) for g in grouped], None

    def get(self, tenant_id: str, kind: VersionedKind, item_id: str, number: int) -> SavedVersion | None:
        found = list(self._query(tenant_id, Key("sk").begins_with(version_prefix(kind, item_id, number)), False))
        return _saved(_best(found)) if found else None
