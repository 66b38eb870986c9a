"""BatchWriteItem as the dispatcher uses it: 25 items a call, items in DynamoDB JSON, what comes back
unprocessed sent again after growing pauses, and what is never written handed back as it was given."""

from __future__ import annotations

import json
import zlib
from decimal import Decimal
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from dealflow.limits import MAX_BATCH_WRITE_ITEMS
from dealflow.store.batches import ATTEMPTS, batch_put, typed


class FakeDynamoDB:
    """Writes what it is sent, except the first ``refuse`` sends of any item whose sk is in ``slow``
    (answered as UnprocessedItems, as under throttling)."""

    def __init__(self, slow: set[str] = frozenset(), refuse: int = 0) -> None:  # type: ignore[assignment]
        self.slow, self.refuse = slow, refuse
        self.calls: list[int] = []
        self.written: dict[str, dict[str, Any]] = {}
        self._sent: dict[str, int] = {}

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        [(table, requests)] = RequestItems.items()
        self.calls.append(len(requests))
        unprocessed = []
        for request in requests:
            item = request["PutRequest"]["Item"]
            sk = item["sk"]["S"]
            self._sent[sk] = self._sent.get(sk, 0) + 1
            if sk in self.slow and self._sent[sk] <= self.refuse:
                unprocessed.append(request)
            else:
                self.written[sk] = item
        return {"UnprocessedItems": {table: unprocessed} if unprocessed else {}}


def items(count: int) -> list[dict[str, Any]]:
    return [
        {"tenant_id": "t1", "sk": f"RUN#{n:03}", "steps": [{"n": Decimal(n), "ok": True, "at": None}]}
        for n in range(count)
    ]


def test_items_go_25_a_call_in_dynamodb_json_the_last_of_a_key_winning() -> None:
    client = FakeDynamoDB()
    given = [*items(60), {"tenant_id": "t1", "sk": "RUN#000", "steps": []}]

    assert batch_put(client, "AutomationTable", given, sleep=lambda _: None) == []

    assert client.calls == [MAX_BATCH_WRITE_ITEMS, MAX_BATCH_WRITE_ITEMS, 10]
    assert client.written["RUN#001"]["steps"] == typed(given[1]["steps"])
    assert client.written["RUN#001"]["steps"] == {
        "L": [{"M": {"n": {"N": "1"}, "ok": {"BOOL": True}, "at": {"NULL": True}}}]
    }
    assert client.written["RUN#000"]["steps"] == {"L": []}


def test_unprocessed_items_are_sent_again_after_doubling_pauses() -> None:
    client, pauses = FakeDynamoDB(slow={"RUN#003"}, refuse=3), []

    assert batch_put(client, "AutomationTable", items(5), sleep=pauses.append) == []

    assert client.calls == [5, 1, 1, 1] and "RUN#003" in client.written
    assert len(pauses) == 3 and pauses[0] < pauses[2]


def test_items_never_written_come_back_as_they_were_given() -> None:
    given = items(30)
    client = FakeDynamoDB(slow={"RUN#002", "RUN#027"}, refuse=ATTEMPTS)

    assert batch_put(client, "AutomationTable", given, sleep=lambda _: None) == [given[2], given[27]]
    assert len(client.written) == 28


class SentBodies:
    """The bodies a real botocore client sends (caught before sending), each answered with the
    items of the first ``unprocessed`` calls handed back unprocessed."""

    def __init__(self, client: Any, unprocessed: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.unprocessed = unprocessed
        client.meta.events.register("before-send.dynamodb.BatchWriteItem", self._send)

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        body = json.loads(request.body)
        self.bodies.append(body)
        answer: dict[str, Any] = {"UnprocessedItems": {}}
        if self.unprocessed:
            self.unprocessed -= 1
            answer["UnprocessedItems"] = body["RequestItems"]
        return AWSResponse(request.url, 200, {}, RawBody(json.dumps(answer).encode()))


class RawBody:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data

    def read(self) -> bytes:
        return self._data


def _client(validated: bool) -> Any:
    return boto3.client(
        "dynamodb",
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:9",  # never reached: every send is answered above
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=validated, retries={"max_attempts": 1}),
    )


def test_a_body_encoded_here_is_what_botocores_serializer_sends_and_unprocessed_items_come_back_as_given() -> None:
    written = [
        {**item, "blob": zlib.compress(b"changes" * 50), "flag": None, "names": ["a", "b"]} for item in items(30)
    ]
    own, botocores = _client(validated=False), _client(validated=True)
    sent_here, sent_by_botocore = SentBodies(own), SentBodies(botocores)

    assert batch_put(own, "AutomationTable", written) == []
    assert batch_put(botocores, "AutomationTable", written) == []

    assert sent_here.bodies == sent_by_botocore.bodies  # the same requests, binaries base64 as botocore sends them
    assert [len(b["RequestItems"]["AutomationTable"]) for b in sent_here.bodies] == [MAX_BATCH_WRITE_ITEMS, 5]
    throttled = _client(validated=False)
    refused = SentBodies(throttled, unprocessed=ATTEMPTS)
    assert batch_put(throttled, "AutomationTable", written[:2], sleep=lambda _: None) == written[:2]
    assert len(refused.bodies) == ATTEMPTS and refused.bodies[-1] == refused.bodies[0]
