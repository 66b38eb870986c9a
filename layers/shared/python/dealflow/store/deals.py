"""Deals in DealsTable, written with optimistic locking on ``version``.

A write by automation goes in one transaction with its effect-ledger item: either both land or
neither, so a retried step can never apply the same change twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from dealflow.clock import now_iso
from dealflow.model import Causation, Deal, parse_item
from dealflow.ports import DealNotFound, StaleDeal
from dealflow.store.assignments import open_deals
from dealflow.store.items import cancellation_reasons, is_conditional_failure, to_item
from dealflow.store.ledger import effect_sk
from dealflow.store.transactions import transact

_MAX_ATTEMPTS = 5
_MAX_READ_BATCH = 1000
# Query pages one list request reads at most (each up to 1 MB, MAX_QUERY_PAGE_BYTES): ten stay far
# within API Gateway's 30 s (API_INTEGRATION_TIMEOUT_SECONDS) however sparse the filter's matches.
MAX_LIST_READS = 10


class ListPage(NamedTuple):
    """One page of a list: the items, the id to continue after (None: the end) and how many
    stored items were read for it (more than the items when a filter skipped some)."""

    items: list[Deal]
    after: str | None
    scanned: int


class DealStore:
    def __init__(self, table: Any, ledger_table: Any | None = None) -> None:
        self._table = table
        self._ledger_table = ledger_table

    def _read(self, tenant_id: str, deal_id: str) -> dict[str, Any] | None:
        return self._table.get_item(Key={"tenant_id": tenant_id, "id": deal_id}, ConsistentRead=True).get("Item")

    def get(self, tenant_id: str, deal_id: str) -> Deal | None:
        item = self._read(tenant_id, deal_id)
        return None if item is None else parse_item(item)

    def require(self, tenant_id: str, deal_id: str) -> Deal:
        deal = self.get(tenant_id, deal_id)
        if deal is None:
            raise DealNotFound(f"deal '{deal_id}' not found")
        return deal

    def create(self, deal: Deal) -> Deal:
        stamp = now_iso()
        deal = deal.model_copy(update={"version": 1, "created_at": deal.created_at or stamp, "updated_at": stamp})
        try:
            self._table.put_item(Item=to_item(deal), ConditionExpression="attribute_not_exists(id)")
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise StaleDeal(f"deal '{deal.id}' already exists") from exc
            raise
        return deal

    def create_if_absent(self, deal: Deal) -> bool:
        """Store a deal an automation made, unless one with its id exists; True if stored now."""
        try:
            self.create(deal)
        except StaleDeal:
            return False
        return True

    def save(self, deal: Deal) -> Deal:
        """A person's write: lands only if nobody wrote since ``deal.version`` was read."""
        saved = deal.model_copy(update={"version": deal.version + 1, "updated_at": now_iso(), "caused_by": None})
        try:
            self._table.put_item(
                Item=to_item(saved), ConditionExpression="version = :v", ExpressionAttributeValues={":v": deal.version}
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise StaleDeal(f"deal '{deal.id}' changed since version {deal.version}") from exc
            raise
        return saved

    def count_by_stage(self, tenant_id: str, pipeline_id: str) -> dict[str, int]:
        """How many deals (or leads) each stage of a pipeline holds. Reads the tenant's partition:
        there is no index by stage, and this only runs when a pipeline or stage is removed."""
        params: dict[str, Any] = {
            "KeyConditionExpression": Key("tenant_id").eq(tenant_id),
            "FilterExpression": Attr("pipeline_id").eq(pipeline_id),
            "ProjectionExpression": "stage_id",
        }
        counts: dict[str, int] = {}
        while True:
            page = self._table.query(**params)
            for item in page.get("Items", []):
                counts[item["stage_id"]] = counts.get(item["stage_id"], 0) + 1
            if "LastEvaluatedKey" not in page:
                return counts
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def page(
        self,
        tenant_id: str,
        *,
        entity: str,
        equals: Mapping[str, str],
        limit: int,
        after: str | None = None,
        matches: Callable[[Deal], bool] | None = None,
    ) -> ListPage:
        """Up to ``limit`` items of ``entity`` in id order after the id ``after``, whose attributes
        equal ``equals`` and that ``matches`` accepts; the id to continue after (None: no more); and
        how many items were read to find them.

        A filtered query page may hold few or no matches, so reading goes on until the page is
        full and one more match proves there is a next page — but for at most ``MAX_LIST_READS``
        query pages: then the page answers with what it found and the last id read, so a sparse
        filter on a large tenant answers within API Gateway's timeout and the caller continues."""
        condition = Attr("entity").eq(entity)
        if entity == "deal":  # items stored before leads existed carry no entity
            condition = condition | Attr("entity").not_exists()
        for name, value in equals.items():
            condition = condition & Attr(name).eq(value)
        params: dict[str, Any] = {
            "KeyConditionExpression": Key("tenant_id").eq(tenant_id),
            "FilterExpression": condition,
            "Limit": limit + 1,
        }
        if after is not None:
            params["ExclusiveStartKey"] = {"tenant_id": tenant_id, "id": after}
        found: list[Deal] = []
        scanned = 0
        for _ in range(MAX_LIST_READS):
            reply = self._table.query(**params)
            scanned += int(reply.get("ScannedCount", 0))
            for item in reply.get("Items", []):
                deal = parse_item(item)
                if matches is None or matches(deal):
                    found.append(deal)
                if len(found) > limit:
                    return ListPage(found[:limit], found[limit - 1].id, scanned)
            if "LastEvaluatedKey" not in reply:
                return ListPage(found, None, scanned)
            params["ExclusiveStartKey"] = reply["LastEvaluatedKey"]
            params["Limit"] = min(params["Limit"] * 2, _MAX_READ_BATCH)  # sparse matches: read more at once
        return ListPage(found, str(params["ExclusiveStartKey"]["id"]), scanned)

    def open_deals(self, tenant_id: str, user_ids: Sequence[str], closed: Sequence[tuple[str, str]]) -> dict[str, int]:
        """``Workloads``: each user's open deals (``dealflow.store.assignments.open_deals``)."""
        return open_deals(self._table, tenant_id, user_ids, closed)

    def delete(self, tenant_id: str, deal_id: str) -> None:
        self._table.delete_item(Key={"tenant_id": tenant_id, "id": deal_id})

    def apply(
        self, tenant_id: str, deal_id: str, change: Callable[[Deal], Deal], causation: Causation, effect_key: str
    ) -> tuple[Deal, bool]:
        """Apply an automation change exactly once per ``effect_key``.

        Returns the deal after the change and whether this call applied it (False when an earlier
        attempt already had). Re-reads and retries when a person's write races it.
        """
        assert self._ledger_table is not None, "automation writes need the ledger table"
        for _ in range(_MAX_ATTEMPTS):
            read = self._read(tenant_id, deal_id)
            if read is None:
                raise DealNotFound(f"deal '{deal_id}' not found")
            current = parse_item(read)
            changed = change(current).model_copy(
                update={"version": current.version + 1, "updated_at": now_iso(), "caused_by": causation}
            )
            try:
                transact(
                    self._table.meta.client,
                    [
                        {
                            "Put": {
                                "TableName": self._ledger_table.name,
                                "Item": (
                                    {
                                        "tenant_id": tenant_id,
                                        "sk": effect_sk(effect_key),
                                        "status": "done",
                                        "at": now_iso(),
                                        "result": {"deal_id": deal_id, "version": changed.version},
                                    }
                                ),
                                "ConditionExpression": "attribute_not_exists(sk)",
                            }
                        },
                        {
                            "Put": {
                                "TableName": self._table.name,
                                "Item": _keeping_unknown(read, to_item(changed)),
                                "ConditionExpression": "version = :v",
                                "ExpressionAttributeValues": ({":v": current.version}),
                            }
                        },
                    ],
                )
                return changed, True
            except ClientError as exc:
                reasons = cancellation_reasons(exc)
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return self.require(tenant_id, deal_id), False
                if reasons and reasons[1] == "ConditionalCheckFailed":
                    continue
                raise
        raise StaleDeal(f"deal '{deal_id}' kept changing; gave up after {_MAX_ATTEMPTS} attempts")


def _keeping_unknown(read: dict[str, Any], written: dict[str, Any]) -> dict[str, Any]:
    """``written``, plus the attributes of the item as ``read`` that this version's model does not
    know: a newer version wrote them, and a run of this one, writing the deal back, keeps them."""
    return {**{k: v for k, v in read.items() if k not in Deal.model_fields}, **written}


__all__ = ["DealNotFound", "DealStore", "StaleDeal"]
