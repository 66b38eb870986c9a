"""TimersTable: what is due when, read by the tick (``dealflow.engine.timers``).

A timer's key is its due time first: ``shard`` = ``DUE#<n>`` (one of ``SHARDS``, from the timer's
identity, so a backfill of 100,000 date timers spreads its writes over several partitions) and
``sk`` = ``<due_at>#<tenant>#<automation>#<item>``; "what is due now" is one Query per shard,
``sk <= <now>~``. A request to arm a tenant (``!ARM#<tenant>``) sorts before every date, so it is
due at once; saving twice before the tick leaves one request. A timer whose due time changes is
not moved: a new one is put and the old one, when it comes due, is recognised as stale by the
engine (its spec or date no longer the item's) and dropped. Which spec each date-triggered process
was last armed for is kept under ``ARMED#<tenant>``, sorted by automation id.
"""

from __future__ import annotations

import uuid
import zlib
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from dealflow.model.timing import Timer
from dealflow.store.items import is_conditional_failure, plain, to_item

SHARDS = 8
_ARM = "!ARM#"


def _shard(timer: Timer) -> str:
    identity = f"{timer.tenant_id}#{timer.automation_id}#{timer.deal_id}"
    return f"DUE#{zlib.crc32(identity.encode()) % SHARDS}"


def _sk(timer: Timer) -> str:
    if timer.kind == "arm":
        return f"{_ARM}{timer.tenant_id}"
    return f"{timer.due_at}#{timer.tenant_id}#{timer.automation_id}#{timer.deal_id or '-'}"


class TimerTable:
    def __init__(self, table: Any) -> None:
        self._table = table

    def put(self, timer: Timer) -> None:
        self._table.put_item(Item=to_item(timer, shard=_shard(timer), sk=_sk(timer)))

    def due(self, now: str, limit: int) -> list[Timer]:
        found: list[Timer] = []
        for n in range(SHARDS):
            params: dict[str, Any] = {
                "KeyConditionExpression": Key("shard").eq(f"DUE#{n}") & Key("sk").lte(f"{now}~"),
                "Limit": max(1, limit - len(found)),
            }
            reply = self._table.query(**params)
            found += [Timer.model_validate(plain(item, "shard", "sk")) for item in reply.get("Items", [])]
            if len(found) >= limit:
                break
        return found[:limit]

    def remove(self, timer: Timer) -> None:
        key = {"shard": _shard(timer), "sk": _sk(timer)}
        if timer.kind != "arm":
            self._table.delete_item(Key=key)
            return
        try:  # a save while the tick armed asked again: that request stays for the next tick
            self._table.delete_item(Key=key, ConditionExpression=Attr("spec").eq(timer.spec))
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise

    def request_arm(self, tenant_id: str) -> None:
        # Each request is told apart (spec), so the tick removes only the one it worked on.
        self.put(Timer(kind="arm", tenant_id=tenant_id, due_at="1970-01-01T00:00:00Z", spec=uuid.uuid4().hex[:16]))

    def armed(self, tenant_id: str) -> dict[str, str]:
        reply = self._table.query(KeyConditionExpression=Key("shard").eq(f"ARMED#{tenant_id}"))
        found = {str(i["sk"]): str(i["spec"]) for i in reply.get("Items", [])}
        while "LastEvaluatedKey" in reply:
            reply = self._table.query(
                KeyConditionExpression=Key("shard").eq(f"ARMED#{tenant_id}"),
                ExclusiveStartKey=reply["LastEvaluatedKey"],
            )
            found |= {str(i["sk"]): str(i["spec"]) for i in reply.get("Items", [])}
        return found

    def set_armed(self, tenant_id: str, automation_id: str, spec: str | None) -> None:
        key = {"shard": f"ARMED#{tenant_id}", "sk": automation_id}
        if spec is None:
            self._table.delete_item(Key=key)
        else:
            self._table.put_item(Item={**key, "spec": spec})
