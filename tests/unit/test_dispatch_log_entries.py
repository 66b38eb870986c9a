"""A not-started entry says what started it exactly as the stage entry's model would: the
dispatcher writes it from the change's plain data, without building the model."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from dealflow.engine.changes import item_change
from dealflow.engine.dispatch_log import _started_by
from dealflow.engine.records import value
from dealflow.model import Deal
from dealflow.store.items import to_item

SERIALIZE = TypeSerializer().serialize


def _image(stage_id: str, pipeline_id: str = "sales", version: int = 1) -> dict[str, Any]:
    deal = Deal(
        tenant_id="t1",
        id="d1",
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        title="Deal",
        amount=Decimal("10"),
        version=version,
    )
    return {k: SERIALIZE(v) for k, v in to_item(deal).items()}


def test_the_stage_entry_of_a_created_a_moved_and_an_edited_deal_is_written_as_its_model_dumps() -> None:
    created = item_change(None, _image("new"), value)
    moved = item_change(_image("new"), _image("won", "renewals", version=2), value)
    edited = item_change(_image("won"), {**_image("won", version=2), "title": {"S": "Renamed"}}, value)

    for change in (created, moved, edited):
        model = change.stage_entry
        assert _started_by(change)["stage_entry"] == (
            model.model_dump(mode="json", exclude_none=True) if model else None
        )
    assert _started_by(moved)["stage_entry"] == {
        "pipeline_id": "renewals",
        "stage_id": "won",
        "from_pipeline_id": "sales",
        "from_stage_id": "new",
    }
    assert _started_by(edited)["stage_entry"] is None
