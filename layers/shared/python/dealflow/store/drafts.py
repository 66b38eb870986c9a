"""Drafts of automation and the saved tests stored with it, in AutomationTable beside the
definitions (``DRAFT#<automation id>``, ``SAVEDTEST#<automation id>#<test id>``): neither is under
``DEF#``, so no dispatcher compiles them and no plan counts them. A draft is one item (a
definition is at most 350 KB, as a PUT's body); a saved test holds a deal, so it is bounded alike."""

from __future__ import annotations

from typing import Any

from dealflow.model.base import stored
from dealflow.model.saved_tests import SavedTest
from dealflow.model.versions import Draft
from dealflow.store.items import plain, query_all, to_item

_DRAFT = "DRAFT#"
_TEST = "SAVEDTEST#"  # not "TEST#": test runs are filed under it
_KEYS = ("tenant_id", "sk")


class DraftStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def put(self, tenant_id: str, draft: Draft) -> None:
        self._table.put_item(Item=to_item(draft, tenant_id=tenant_id, sk=f"{_DRAFT}{draft.automation.id}"))

    def get(self, tenant_id: str, automation_id: str) -> Draft | None:
        found = self._table.get_item(Key={"tenant_id": tenant_id, "sk": f"{_DRAFT}{automation_id}"}).get("Item")
        return None if found is None else stored(Draft, plain(found, *_KEYS))

    def delete(self, tenant_id: str, automation_id: str) -> bool:
        old = self._table.delete_item(
            Key={"tenant_id": tenant_id, "sk": f"{_DRAFT}{automation_id}"}, ReturnValues="ALL_OLD"
        )
        return "Attributes" in old


class SavedTestStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def put(self, tenant_id: str, automation_id: str, test: SavedTest) -> bool:
        """Store a saved test; True when it is new."""
        old = self._table.put_item(
            Item=to_item(test, tenant_id=tenant_id, sk=f"{_TEST}{automation_id}#{test.id}"), ReturnValues="ALL_OLD"
        )
        return "Attributes" not in old

    def list(self, tenant_id: str, automation_id: str) -> list[SavedTest]:
        """An automation's saved tests in id order."""
        return [
            stored(SavedTest, plain(item, *_KEYS))
            for item in query_all(self._table, tenant_id, f"{_TEST}{automation_id}#")
        ]

    def delete(self, tenant_id: str, automation_id: str, test_id: str) -> bool:
        old = self._table.delete_item(
            Key={"tenant_id": tenant_id, "sk": f"{_TEST}{automation_id}#{test_id}"}, ReturnValues="ALL_OLD"
        )
        return "Attributes" in old
