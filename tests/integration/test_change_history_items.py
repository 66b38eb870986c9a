"""What-if reads the dispatcher's history as it is now written — a tenant's changes of one stream
batch in one item — newest first across batches and tenants, with ``last`` and ``since`` cutting
inside an item; a batch past the per-tenant cap keeps its first changes; items of the layout before
(one change each) are still read; and a history write that fails leaves the batch's records done."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from dealflow import runtime
from dealflow.local import MotoStack
from dealflow.local.demo import PROCESS_TENANT, TENANT, demo_deal, set_up_process_tenant
from dealflow.ports import RecordedChange
from dealflow.store.change_history import PER_TENANT_PER_BATCH, ChangeHistoryStore
from tests.integration.test_api_automation import _rule

ADMIN = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
RULE = _rule()  # a rule of acme's sales pipeline, started by entering negotiation
AMOUNTS = {"w-1": "25000.00", "w-2": "500.00", "w-3": "12000.00"}


def _history() -> ChangeHistoryStore:
    return ChangeHistoryStore(runtime.tables().automation)  # type: ignore[attr-defined]


def _what_if(stack: MotoStack, body: dict[str, Any]) -> dict[str, Any]:
    status, report = stack.api("POST", "/automation/negotiation-alert/what-if", body, claims=ADMIN)
    assert status == 200, report
    return report


def _two_tenants_three_batches(stack: MotoStack) -> None:
    """acme: three deals created (one batch with globex's two), then moved into negotiation (a
    second batch); then one of globex's moved (a third)."""
    assert stack.api("PUT", "/automation/negotiation-alert", RULE, claims=ADMIN)[0] == 201
    set_up_process_tenant(stack)
    for deal_id, amount in AMOUNTS.items():
        stack.create_deal(demo_deal(deal_id, f"Deal {deal_id}", amount, "products"))
    for deal_id in ("g-1", "g-2"):
        stack.create_deal(
            demo_deal(deal_id, f"Deal {deal_id}", "100.00", "products").model_copy(update={"tenant_id": PROCESS_TENANT})
        )
    stack.drain()
    for deal_id in AMOUNTS:
        stack.move_deal(TENANT, deal_id, "negotiation")
    stack.drain()
    stack.move_deal(PROCESS_TENANT, "g-1", "negotiation")
    stack.drain()


def test_what_if_replays_each_tenants_batches_newest_first_cut_by_last_and_since(stack: MotoStack) -> None:
    _two_tenants_three_batches(stack)

    report = _what_if(stack, {"last": 10})
    items = report["items"]
    assert [(i["deal_id"], i["change"]["kind"]) for i in items] == [
        *((d, "updated") for d in ("w-3", "w-2", "w-1")),
        *((d, "created") for d in ("w-3", "w-2", "w-1")),
    ]  # globex's changes are globex's own
    assert {i["deal_id"]: i["verdict"] for i in items if i["change"]["kind"] == "updated"} == {
        "w-1": "would_start",
        "w-2": "would_not_start",
        "w-3": "would_start",
    }
    moved_at, created_at = items[0]["at"], items[-1]["at"]
    assert moved_at > created_at and {i["at"] for i in items[:3]} == {moved_at}

    cut = _what_if(stack, {"last": 4})  # the limit falls inside the creations' item
    assert [i["event_id"] for i in cut["items"]] == [i["event_id"] for i in items[:4]]
    since = _what_if(stack, {"last": 10, "since": moved_at})
    assert [i["event_id"] for i in since["items"]] == [i["event_id"] for i in items[:3]]

    globex = _history().recent(PROCESS_TENANT, 10)
    assert [(c.deal_id, c.old_image is None) for c in globex] == [("g-1", False), ("g-2", True), ("g-1", True)]
    assert _history().recent(PROCESS_TENANT, 10, since=globex[0].at) == globex[:1]


def _change(i: int, at: str) -> RecordedChange:
    image = {"tenant_id": {"S": "t-bulk"}, "id": {"S": f"d-{i}"}, "stage_id": {"S": "new"}}
    return RecordedChange("t-bulk", f"e-{i:03d}", f"d-{i}", at, None, image)


def test_a_batch_past_the_cap_keeps_its_first_changes_and_reads_back_newest_first(stack: MotoStack) -> None:
    history = ChangeHistoryStore(runtime.tables().automation, runtime.batch_writes())  # type: ignore[attr-defined]
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    for i in range(PER_TENANT_PER_BATCH + 20):
        history.keep(_change(i, at))
    assert history.flush() == 0

    found = history.recent("t-bulk", 500)
    assert [c.event_id for c in found] == [f"e-{i:03d}" for i in reversed(range(PER_TENANT_PER_BATCH))]
    assert found[-1] == _change(0, at)
    assert [c.event_id for c in history.recent("t-bulk", 3)] == ["e-099", "e-098", "e-097"]


def test_items_of_the_layout_before_are_still_replayed_after_the_newer_ones(stack: MotoStack) -> None:
    _two_tenants_three_batches(stack)
    [moved, *_] = _history().recent(TENANT, 1)
    # As the dispatcher wrote a change before (one item each), an hour earlier than every batch here.
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="milliseconds")
    runtime.tables().automation.put_item(  # type: ignore[attr-defined]
        Item={
            "tenant_id": TENANT,
            "sk": f"CHANGE#{at}#0000#e-before",
            "deal_id": moved.deal_id,
            "images": zlib.compress(json.dumps([moved.old_image, moved.new_image]).encode(), 1),
            "expires_at": int((datetime.now(UTC) + timedelta(days=6)).timestamp()),
        }
    )

    items = _what_if(stack, {"last": 10})["items"]

    assert len(items) == 7
    old = items[-1]
    assert (old["event_id"], old["deal_id"], old["at"]) == ("e-before", moved.deal_id, at)
    assert (old["change"]["entered"], old["verdict"]) == (["sales", "negotiation"], "would_start")
    assert [i["event_id"] for i in _what_if(stack, {"last": 10, "since": at})["items"]][-1] == "e-before"


class FailingHistoryWrites:
    """DynamoDB refusing every BatchWriteItem that carries deal-change history; other writes go on."""

    def __init__(self, client: Any) -> None:
        self.refused = 0
        client.meta.events.register("before-call.dynamodb.BatchWriteItem", self._refuse)

    def _refuse(self, params: Any, **_: Any) -> None:
        if '"CHANGE#' in params["body"].decode():
            self.refused += 1
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "no"}}, "BatchWriteItem")


def test_a_history_write_that_fails_leaves_the_batchs_records_done(stack: MotoStack) -> None:
    assert stack.api("PUT", "/automation/negotiation-alert", RULE, claims=ADMIN)[0] == 201
    stack.create_deal(demo_deal("w-1", "Deal w-1", "25000.00", "products"))
    stack.drain()
    failing = FailingHistoryWrites(runtime.batch_writes())

    stack.move_deal(TENANT, "w-1", "negotiation")
    report = stack.drain()

    assert failing.refused == 1
    assert report.records >= 1 and all(r == {"batchItemFailures": []} for r in stack.batch_responses)
    runs = [r for r in stack.runs(TENANT, "w-1") if r.automation_id == "negotiation-alert"]
    assert [r.status for r in runs] == ["completed"]  # the record's run started once and ran
    assert [c.old_image is None for c in _history().recent(TENANT, 10)] == [True]  # only the creation kept
