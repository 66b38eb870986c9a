"""The dispatcher keeps each tenant's recent deal changes for what-if: created, moved and edited
deals, not deletions nor rewrites of bookkeeping alone; written once at the end of the batch, at
most a cap per tenant per batch, never failing the batch."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from dealflow.engine.compiled import AutomationIndex, TenantAutomation
from dealflow.engine.dispatcher import Dispatcher
from dealflow.limits import MAX_ITEM_BYTES
from dealflow.model import Deal, Pipeline, Tenant
from dealflow.ports import RecordedChange
from dealflow.store.change_history import PER_TENANT_PER_BATCH, ChangeHistoryStore
from dealflow.store.items import to_item
from dealflow.store.transactions import item_size

SERIALIZE = TypeSerializer().serialize
SALES = Pipeline.model_validate(
    {"id": "sales", "name": "Sales", "stages": [{"id": "new", "name": "New"}, {"id": "won", "name": "Won"}]}
)


def _deal(stage_id: str = "new", version: int = 1, title: str = "Big deal") -> Deal:
    return Deal(
        tenant_id="t1",
        id="d1",
        pipeline_id="sales",
        stage_id=stage_id,
        title=title,
        amount=Decimal("5000"),
        version=version,
    )


def _image(deal: Deal | None) -> dict[str, Any] | None:
    return None if deal is None else {k: SERIALIZE(v) for k, v in to_item(deal).items()}


class FakeHistory:
    def __init__(self) -> None:
        self.kept: list[RecordedChange] = []
        self.flushed: list[list[RecordedChange]] = []
        self._pending: list[RecordedChange] = []

    def keep(self, change: RecordedChange) -> None:
        self._pending.append(change)
        self.kept.append(change)

    def flush(self) -> int:
        self.flushed.append(self._pending)
        self._pending = []
        return 0

    def recent(self, tenant_id: str, limit: int, since: str | None = None) -> list[RecordedChange]:
        return []


class NoLog:
    def loop_stopped(self, *args: Any) -> None: ...
    def not_started(self, *args: Any) -> None: ...
    def skipped(self, *args: Any) -> None: ...
    def flush(self) -> set[str]:
        return set()


def _dispatcher(history: FakeHistory) -> Dispatcher:
    tenant = Tenant.model_validate({"id": "t1", "name": "T1"})
    compiled = TenantAutomation(
        tenant=tenant, pipelines={"sales": SALES}, fields={}, index=AutomationIndex([]), version=1
    )
    return Dispatcher(lambda _: compiled, starter=None, log=NoLog(), history=history)  # type: ignore[arg-type]


def test_created_moved_and_edited_deals_are_kept_with_both_images_and_written_at_the_batch_end() -> None:
    history = FakeHistory()
    batch = _dispatcher(history).batch()
    batch.add(None, _image(_deal()), "e-created")
    batch.add(_image(_deal()), _image(_deal("won", version=2)), "e-moved")
    batch.add(_image(_deal("won", version=2)), _image(_deal("won", version=3, title="Bigger deal")), "e-edited")
    batch.add(_image(_deal("won", version=3)), _image(_deal("won", version=4)), "e-bookkeeping")  # version alone
    batch.add(_image(_deal("won", version=4)), None, "e-deleted")
    assert history.flushed == []  # nothing written mid-batch

    batch.finish()

    assert [c.event_id for c in history.kept] == ["e-created", "e-moved", "e-edited"]
    assert history.flushed == [history.kept]
    created, moved, _ = history.kept
    assert created.old_image is None and created.new_image["stage_id"] == {"S": "new"}
    assert moved.old_image is not None and moved.old_image["stage_id"] == {"S": "new"}
    assert moved.new_image["stage_id"] == {"S": "won"}
    assert {c.at for c in history.kept} == {created.at}  # one time for the batch: their order keeps them apart


class RecordingClient:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError("throttled for good")
        self.calls.append(RequestItems)
        return {}


class Table:
    name = "AutomationTable"


def _change(i: int, tenant_id: str = "t1", new: dict[str, Any] | None = None) -> RecordedChange:
    return RecordedChange(tenant_id, f"e-{i}", "d1", "2026-12-01T10:00:00.000+00:00", None, new or {"id": {"S": "d1"}})


def _held(item: dict[str, Any]) -> list[list[Any]]:
    """The changes a written item holds (DynamoDB JSON as the call carries it), oldest first."""
    return json.loads(zlib.decompress(item["changes"]["B"]))


def _noise(length: int, seed: int) -> str:
    """Text that zlib cannot shrink much: pseudo-random CJK characters."""
    return "".join(chr(0x4E00 + (i * 7919 + seed * 104729) % 20000) for i in range(length))


def test_a_tenants_changes_of_a_batch_are_one_item_holding_at_most_the_cap_in_the_batchs_order() -> None:
    client = RecordingClient()
    store = ChangeHistoryStore(Table(), client)
    for i in range(PER_TENANT_PER_BATCH + 10):
        store.keep(_change(i))
    store.keep(_change(0, tenant_id="t2"))
    store.keep(_change(1, tenant_id="t2", new={"id": {"S": "d1"}, "notes": {"S": _noise(40000, 1)}}))  # too large

    assert store.flush() == 0

    [call] = client.calls  # both tenants' items in one call
    first, second = (r["PutRequest"]["Item"] for r in call["AutomationTable"])
    assert first["sk"]["S"] == "CHANGE#2026-12-01T10:00:00.000+00:00#00#e-0"
    assert int(first["expires_at"]["N"]) == int(datetime(2026, 12, 8, 10, tzinfo=UTC).timestamp())
    assert [event_id for event_id, *_ in _held(first)] == [f"e-{i}" for i in range(PER_TENANT_PER_BATCH)]
    assert _held(first)[0] == ["e-0", "d1", None, {"id": {"S": "d1"}}]  # the images as the stream gave them
    assert second["tenant_id"]["S"] == "t2" and [c[0] for c in _held(second)] == ["e-0"]  # the large one not kept
    store.keep(_change(500))  # a new batch: a fresh cap
    store.flush()
    assert [c[0] for c in _held(client.calls[-1]["AutomationTable"][0]["PutRequest"]["Item"])] == ["e-500"]


def test_a_batch_of_large_changes_is_split_over_items_each_within_dynamodbs_item_size() -> None:
    client = RecordingClient()
    store = ChangeHistoryStore(Table(), client)
    for i in range(12):  # ~90 KB of JSON each, about 60 KB compressed: too much for one item
        store.keep(_change(i, new={"id": {"S": "d1"}, "notes": {"S": _noise(15000, i)}}))

    assert store.flush() == 0

    items = [r["PutRequest"]["Item"] for call in client.calls for r in call["AutomationTable"]]
    assert len(items) > 1
    stored = [{k: v.get("S", v.get("N", v.get("B"))) for k, v in item.items()} for item in items]
    assert all(item_size(item) <= MAX_ITEM_BYTES for item in stored)
    assert [c[0] for item in items for c in _held(item)] == [f"e-{i}" for i in range(12)]
    # Named by their part and first change: newest last within the batch, as a query reads them reversed.
    assert [i["sk"]["S"].split("#", 2)[2] for i in items] == [f"{n:02d}#{_held(i)[0][0]}" for n, i in enumerate(items)]


def test_a_history_write_that_fails_is_counted_not_raised() -> None:
    store = ChangeHistoryStore(Table(), RecordingClient(fail=True))
    store.keep(_change(1))
    assert store.flush() == 1
