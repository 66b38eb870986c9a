"""The effect ledger: one item per side effect, so a retried step never sends twice.

An e-mail cannot be sent and recorded atomically. The ledger claims the key first and records the
outcome after. When the outcome is unknown — the provider answered 5xx or timed out after the
request went out (``AmbiguousOutcome``), or a crash mid-send left a claim behind — the effect's
policy decides: ``retry`` performs it again (at least once), ``hold`` marks it ``unconfirmed`` and
never performs it again until a person settles it (at most once): a missing e-mail can be noticed
in the run log and sent by hand, a doubled one cannot be taken back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from dealflow.clock import now_iso
from dealflow.model.automation import AmbiguousPolicy
from dealflow.ports import AmbiguousOutcome, NotPerformed
from dealflow.store.items import is_conditional_failure

_NOT_CONFIRMED = "an earlier attempt started this effect and did not confirm it"
_HELD = "not repeated: check whether it arrived, then send it by hand or retry the run after settling it"


def effect_sk(key: str) -> str:
    return f"EFFECT#{key}"


def unconfirmed(reason: str) -> dict[str, Any]:
    return {"status": "unconfirmed", "reason": reason}


class EffectLedger:
    def __init__(self, table: Any) -> None:
        self._table = table

    def _key(self, tenant_id: str, key: str) -> dict[str, str]:
        return {"tenant_id": tenant_id, "sk": effect_sk(key)}

    def _get(self, tenant_id: str, key: str) -> dict[str, Any] | None:
        return self._table.get_item(Key=self._key(tenant_id, key), ConsistentRead=True).get("Item")

    def _claim(self, tenant_id: str, key: str) -> dict[str, Any] | None:
        """Claim the key; None when claimed now, else what an earlier attempt left."""
        try:
            self._table.put_item(
                Item={**self._key(tenant_id, key), "status": "claimed", "at": now_iso()},
                ConditionExpression="attribute_not_exists(sk)",
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            return self._get(tenant_id, key)
        return None

    def _hold(self, tenant_id: str, key: str, reason: str) -> dict[str, Any]:
        self._table.update_item(
            Key=self._key(tenant_id, key),
            UpdateExpression="SET #s = :held, #r = :reason, #at = :at",
            ExpressionAttributeNames={"#s": "status", "#r": "reason", "#at": "at"},
            ExpressionAttributeValues={":held": "unconfirmed", ":reason": reason, ":at": now_iso()},
        )
        return unconfirmed(reason)

    def once(
        self,
        tenant_id: str,
        key: str,
        effect: Callable[[], dict[str, Any]],
        ambiguous: AmbiguousPolicy = "hold",
    ) -> dict[str, Any]:
        """Run ``effect`` unless ``key`` ran before; return its outcome (``dealflow.ports``)."""
        earlier = self._get(tenant_id, key)
        if earlier is None:
            earlier = self._claim(tenant_id, key)
        if earlier is not None:
            status = earlier.get("status")
            if status == "done":
                return {**earlier.get("result", {}), "duplicate": True}
            if status == "unconfirmed":  # held: only a person's decision (``settle``) releases it
                return {**unconfirmed(earlier.get("reason") or _NOT_CONFIRMED), "duplicate": True}
            if ambiguous == "hold":  # a claim an attempt left (it crashed mid-send)
                return {**self._hold(tenant_id, key, f"{_NOT_CONFIRMED}; {_HELD}"), "duplicate": True}
            # retry: the claim is taken over and the effect performed again
        try:
            result = effect()
        except AmbiguousOutcome as exc:
            if ambiguous == "hold":
                return self._hold(tenant_id, key, f"{exc}; {_HELD}")
            self._table.delete_item(Key=self._key(tenant_id, key))  # retry: the step performs it again
            raise
        except (ClientError, BotoCoreError, NotPerformed):
            # AWS (or another system) refused the call (the adapters raise AmbiguousOutcome whenever
            # it may have been carried out), so the effect did not happen: free the key for the
            # step's retry.
            self._table.delete_item(Key=self._key(tenant_id, key))
            raise
        self._table.update_item(
            Key=self._key(tenant_id, key),
            UpdateExpression="SET #s = :done, #r = :result",
            ExpressionAttributeNames={"#s": "status", "#r": "result"},
            ExpressionAttributeValues={":done": "done", ":result": result},
        )
        return result

    def settle(self, tenant_id: str, key: str, *, sent: bool) -> bool:
        """A person's decision on an unconfirmed effect: it arrived (``sent``: never performed
        again), or it did not (the key is freed: the run's retry performs it). False when the
        effect was not unconfirmed."""
        held: dict[str, Any] = {
            "Key": self._key(tenant_id, key),
            "ConditionExpression": "#s = :held",
            "ExpressionAttributeNames": {"#s": "status"},
        }
        try:
            if sent:
                held["ExpressionAttributeNames"] = {"#s": "status", "#r": "result"}
                self._table.update_item(
                    **held,
                    UpdateExpression="SET #s = :done, #r = :result",
                    ExpressionAttributeValues={
                        ":held": "unconfirmed",
                        ":done": "done",
                        ":result": {"settled": f"marked sent by a person at {now_iso()}"},
                    },
                )
            else:
                self._table.delete_item(**held, ExpressionAttributeValues={":held": "unconfirmed"})
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True
