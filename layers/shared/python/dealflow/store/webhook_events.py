"""The webhook replay guard: which event ids a tenant has sent, in AutomationTable.

One item per (tenant, event id), sk ``WEBHOOK#<event id>``, expiring ``KEEP_DAYS`` after it was
first received (``expires_at``, the table's TTL attribute). Every write is a PutItem, so the
receiver's role needs no UpdateItem or DeleteItem.

An event goes ``processing`` (claimed) → ``accepted`` (its runs were started). If starting them
fails, the claim is ``released`` so the sender's retry can claim it again. A claim left
``processing`` by a receiver that died half-way expires after ``CLAIM_SECONDS`` (longer than the
function's timeout) and can then be taken over: the runs are named after tenant + event id, so
starting them again cannot start anything twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from dealflow.clock import now

KEEP_DAYS = 30  # senders retry for up to three days (Stripe), some longer: remember well past that
CLAIM_SECONDS = 120  # > WebhooksFunction's Timeout in template.yaml
_SK_PREFIX = "WEBHOOK#"
_DESERIALIZE = TypeDeserializer()


@dataclass(frozen=True)
class SeenEvent:
    """What the guard knows about an event id."""

    tenant_id: str
    event_id: str
    status: str  # processing | accepted | released
    received_at: str
    kind: str = ""
    deal_id: str = ""
    runs: list[str] = field(default_factory=list)


def webhook_sk(event_id: str) -> str:
    return f"{_SK_PREFIX}{event_id}"


class WebhookEventLog:
    def __init__(self, table: Any, *, keep_days: int = KEEP_DAYS, claim_seconds: int = CLAIM_SECONDS) -> None:
        self._table = table
        self._keep = timedelta(days=keep_days)
        self._claim = timedelta(seconds=claim_seconds)

    def _item(self, seen: SeenEvent, at: datetime, **extra: Any) -> dict[str, Any]:
        first = datetime.fromisoformat(seen.received_at)
        return {
            "tenant_id": seen.tenant_id,
            "sk": webhook_sk(seen.event_id),
            "status": seen.status,
            "event_id": seen.event_id,
            "kind": seen.kind,
            "deal_id": seen.deal_id,
            "received_at": seen.received_at,
            "updated_at": at.isoformat(timespec="milliseconds"),
            "runs": list(seen.runs),
            "expires_at": int((first + self._keep).timestamp()),
            **extra,
        }

    def claim(self, tenant_id: str, event_id: str, *, kind: str, deal_id: str) -> tuple[bool, SeenEvent]:
        """Record the event id as being processed. Returns (True, the claim) when this call claimed
        it, or (False, what was recorded before) when the id is taken: accepted, or still being
        processed by another request."""
        at = now()
        seen = SeenEvent(tenant_id, event_id, "processing", at.isoformat(timespec="milliseconds"), kind, deal_id)
        try:
            self._table.put_item(
                Item=self._item(seen, at, claim_expires_at=int((at + self._claim).timestamp())),
                ConditionExpression="attribute_not_exists(sk) OR #s = :released "
                "OR (#s = :processing AND claim_expires_at < :now)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":released": "released",
                    ":processing": "processing",
                    ":now": int(at.timestamp()),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old = exc.response.get("Item")
            if old is None:  # an emulator without ReturnValuesOnConditionCheckFailure: read it instead
                return False, self.get(tenant_id, event_id) or seen
            return False, _seen(tenant_id, event_id, {k: _DESERIALIZE.deserialize(v) for k, v in old.items()})
        return True, seen

    def accept(self, seen: SeenEvent, runs: list[str]) -> None:
        self._table.put_item(Item=self._item(SeenEvent(**{**seen.__dict__, "status": "accepted", "runs": runs}), now()))

    def release(self, seen: SeenEvent) -> None:
        """Give the event id back (its runs could not be started): the sender's retry is not a replay."""
        self._table.put_item(Item=self._item(SeenEvent(**{**seen.__dict__, "status": "released"}), now()))

    def get(self, tenant_id: str, event_id: str) -> SeenEvent | None:
        item = self._table.get_item(Key={"tenant_id": tenant_id, "sk": webhook_sk(event_id)}, ConsistentRead=True).get(
            "Item"
        )
        return None if item is None else _seen(tenant_id, event_id, item)


def _seen(tenant_id: str, event_id: str, item: dict[str, Any]) -> SeenEvent:
    return SeenEvent(
        tenant_id,
        event_id,
        str(item.get("status", "accepted")),
        str(item.get("received_at", "")),
        str(item.get("kind", "")),
        str(item.get("deal_id", "")),
        [str(r) for r in item.get("runs", [])],
    )


__all__ = ["CLAIM_SECONDS", "KEEP_DAYS", "SeenEvent", "WebhookEventLog", "webhook_sk"]
