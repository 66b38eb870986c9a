"""The effect ledger: one item per side effect, so a retried step never sends twice.

An e-mail cannot be sent and recorded atomically. The ledger claims the key first and records the
outcome after; a claim left behind by a crash mid-send is reported as unconfirmed and never sent
again: a missing e-mail can be noticed in the run log, a doubled one cannot be taken back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from dealflow.clock import now_iso
from dealflow.store.items import is_conditional_failure


def effect_sk(key: str) -> str:
    return f"EFFECT#{key}"


class EffectLedger:
    def __init__(self, table: Any) -> None:
        self._table = table

    def _get(self, tenant_id: str, key: str) -> dict[str, Any] | None:
        return self._table.get_item(Key={"tenant_id": tenant_id, "sk": effect_sk(key)}, ConsistentRead=True).get("Item")

    def once(self, tenant_id: str, key: str, effect: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``effect`` unless ``key`` ran (or started running) before; return its outcome."""
        earlier = self._get(tenant_id, key)
        if earlier is None:
            try:
                self._table.put_item(
                    Item={"tenant_id": tenant_id, "sk": effect_sk(key), "status": "claimed", "at": now_iso()},
                    ConditionExpression="attribute_not_exists(sk)",
                )
            except ClientError as exc:
                if not is_conditional_failure(exc):
                    raise
                earlier = self._get(tenant_id, key)
        if earlier is not None:
            if earlier.get("status") == "done":
                return {**earlier.get("result", {}), "duplicate": True}
            return {
                "status": "unconfirmed",
                "duplicate": True,
                "reason": "an earlier attempt started this effect and did not confirm it; not repeated",
            }
        try:
            result = effect()
        except ClientError:
            # AWS refused the call, so the effect did not happen: free the key for the step's retry.
            # Any other failure (a timeout, a dropped connection) may hide a sent e-mail: the claim
            # stays and the retry reports it unconfirmed.
            self._table.delete_item(Key={"tenant_id": tenant_id, "sk": effect_sk(key)})
            raise
        self._table.update_item(
            Key={"tenant_id": tenant_id, "sk": effect_sk(key)},
            UpdateExpression="SET #s = :done, #r = :result",
            ExpressionAttributeNames={"#s": "status", "#r": "result"},
            ExpressionAttributeValues={":done": "done", ":result": result},
        )
        return result
