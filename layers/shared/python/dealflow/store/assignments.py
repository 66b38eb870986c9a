"""The ``assign`` action's round-robin turns: a conditional counter per pool in AutomationTable.

Each turn is one TransactWriteItems: the pool's counter moves from the value read to the next one
(``turns = :seen``, so two runs that read the same value cannot both take it: one is cancelled and
reads again), and the turn is recorded under the effect's key (``attribute_not_exists``), so a step
retried after the write gets the same turn back instead of taking a second one. Turns are therefore
handed out 1, 2, 3, … with no gap and no repeat, however many runs assign at once, and fairness
is arithmetic: turn ``n`` goes to the ``n``-th candidate in order, modulo their number.

Items: ``ASSIGN#POOL#<pool>`` (``turns``) and ``ASSIGN#TURN#<effect key>`` (``turn``, kept 30
days: a step is retried within minutes, an early resume or a retried run within days)."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from dealflow.clock import now
from dealflow.store.items import cancellation_reasons

_KEEP_SECONDS = 30 * 86_400
# Contended turns are retried; each attempt is a short transaction, and one of the contenders
# always wins, so 8 runs at once settle in at most 8 rounds. Past this, the step's own retry takes over.
_ATTEMPTS = 40


class TurnContended(RuntimeError):
    """Too many runs took turns of one pool at once; the step is retried (``conflict``)."""


class AssignmentTurns:
    def __init__(self, table: Any) -> None:
        self._table = table

    def _pool_key(self, tenant_id: str, pool: str) -> dict[str, str]:
        return {"tenant_id": tenant_id, "sk": f"ASSIGN#POOL#{pool}"}

    def _turn_key(self, tenant_id: str, effect_key: str) -> dict[str, str]:
        return {"tenant_id": tenant_id, "sk": f"ASSIGN#TURN#{effect_key}"}

    def peek(self, tenant_id: str, pool: str) -> int:
        item = self._table.get_item(Key=self._pool_key(tenant_id, pool), ConsistentRead=True).get("Item")
        return int(item["turns"]) + 1 if item else 1

    def _taken(self, tenant_id: str, effect_key: str) -> int | None:
        item = self._table.get_item(Key=self._turn_key(tenant_id, effect_key), ConsistentRead=True).get("Item")
        return int(item["turn"]) if item else None

    def take(self, tenant_id: str, pool: str, effect_key: str) -> int:
        taken = self._taken(tenant_id, effect_key)
        if taken is not None:
            return taken
        name = self._table.name
        for attempt in range(_ATTEMPTS):
            turn = self.peek(tenant_id, pool)
            seen = turn - 1
            counter: dict[str, Any] = {
                "TableName": name,
                "Key": self._pool_key(tenant_id, pool),
                "UpdateExpression": "SET turns = :next",
                "ExpressionAttributeValues": {":next": turn},
            }
            if seen:
                counter["ConditionExpression"] = "turns = :seen"
                counter["ExpressionAttributeValues"][":seen"] = seen
            else:
                counter["ConditionExpression"] = "attribute_not_exists(turns)"
            record = {
                "TableName": name,
                "Item": {
                    **self._turn_key(tenant_id, effect_key),
                    "turn": turn,
                    "pool": pool,
                    "expires_at": int(now().timestamp()) + _KEEP_SECONDS,
                },
                "ConditionExpression": "attribute_not_exists(sk)",
            }
            try:
                self._table.meta.client.transact_write_items(TransactItems=[{"Update": counter}, {"Put": record}])
                return turn
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = cancellation_reasons(exc)
                if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                    taken = self._taken(tenant_id, effect_key)  # the same effect took its turn meanwhile
                    if taken is not None:
                        return taken
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # spreads contending retries apart
        raise TurnContended(f"pool '{pool}': no turn after {_ATTEMPTS} tries; too many assignments at once")


def open_deals(
    deals_table: Any, tenant_id: str, user_ids: Sequence[str], closed: Sequence[tuple[str, str]]
) -> dict[str, int]:
    """Each user's open deals, counted from the tenant's partition of DealsTable (there is no index
    by responsible user; the count reads only the three attributes it needs)."""
    counts = dict.fromkeys(user_ids, 0)
    if not user_ids:
        return counts
    finished = set(closed)
    params: dict[str, Any] = {
        "KeyConditionExpression": Key("tenant_id").eq(tenant_id),
        "FilterExpression": Attr("responsible_id").is_in(list(user_ids))
        & (Attr("entity").eq("deal") | Attr("entity").not_exists()),
        "ProjectionExpression": "responsible_id, pipeline_id, stage_id",
    }
    while True:
        page = deals_table.query(**params)
        for item in page.get("Items", []):
            if (item.get("pipeline_id"), item.get("stage_id")) not in finished:
                counts[item["responsible_id"]] += 1
        if "LastEvaluatedKey" not in page:
            return counts
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
