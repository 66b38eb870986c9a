"""Where an ``http_request`` may go (``dealflow.aws.outbound_http``): public addresses only, judged
after the name is resolved, and the connection made to the address that was judged; and what
the action's definition may say (``dealflow.model.http_request``), what it writes (the loop check,
warnings for deleted fields), how its retries wait (``Retry-After``)."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from pydantic import ValidationError

from dealflow.authoring.document_text import to_json
from dealflow.authoring.loops import find_loops
from dealflow.authoring.moves import write_changes
from dealflow.authoring.transfer import export_document, import_changes, validate_document
from dealflow.aws.adapters import failure_class, retry_strategy
from dealflow.aws.outbound_http import GuardedHttp, refusal
from dealflow.engine.signals import EFFECTS, CountedHttp
from dealflow.model import HttpRequest, RetryPolicy
from dealflow.ports import AmbiguousCall, HttpReply, NotPerformed, OutgoingRequest
from tests.fakes import (
    TENANT_ID,
    FakeAutomationStore,
    FakeMetrics,
    a_rule,
    a_tenant,
    automation_of,
    compiled_tenant,
    some_fields,
)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.170.2", "cloud metadata"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "not a public"),
        ("0.0.0.0", "private"),
        ("224.0.0.1", "not a public"),
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("2002:a00:1::", "private"),  # 6to4 around 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 around 169.254.169.254
    ],
)
def test_addresses_that_are_not_public_are_refused_saying_why(address: str, why: str) -> None:
    reason = refusal(address)
    assert reason is not None and why in reason


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(address) is None


def test_loopback_passes_only_where_the_setting_allows_it_and_metadata_never() -> None:
    assert refusal("127.0.0.1", allow_loopback=True) is None
    assert refusal("::1", allow_loopback=True) is None
    assert refusal("10.0.0.1", allow_loopback=True) is not None
    assert refusal("169.254.169.254", allow_loopback=True) is not None


def _request(url: str) -> OutgoingRequest:
    return OutgoingRequest("POST", url, {"X-Test": "1"}, b"{}", 2.0)


class _Dialled(ConnectionRefusedError):
    """Where the sender tried to connect (raised instead of connecting: no traffic leaves)."""


@pytest.fixture
def dialled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    seen: list[tuple[str, int]] = []

    def dial(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        seen.append(address)
        raise _Dialled(address)

    monkeypatch.setattr(socket, "create_connection", dial)
    return seen


def test_a_name_resolving_to_any_private_address_is_refused_before_a_connection(
    dialled: list[tuple[str, int]],
) -> None:
    sender = GuardedHttp(resolver=lambda host, port: ["93.184.215.14", "10.0.0.7"])
    with pytest.raises(NotPerformed, match=r"10\.0\.0\.7 is a private address") as refused:
        sender.send(_request("https://erp.example.com/hook"))
    assert refused.value.failure is None  # not worth another try
    assert dialled == []


def test_the_connection_goes_to_the_checked_address_not_to_a_second_lookup(dialled: list[tuple[str, int]]) -> None:
    answers = iter([["93.184.215.14"], ["10.0.0.7"]])  # a rebinding name: public first, private after
    sender = GuardedHttp(resolver=lambda host, port: next(answers))
    with pytest.raises(NotPerformed):  # the fake dial refuses: "no connection"
        sender.send(_request("https://erp.example.com:8443/hook"))
    assert dialled == [("93.184.215.14", 8443)]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://erp.example.com/hook", "not an https:// address"),
        ("ftp://erp.example.com/x", "not an https:// address"),
        ("https://user:pw@erp.example.com/", "credentials in the address"),
        ("https:///nohost", "not an https:// address"),
    ],
)
def test_only_https_urls_without_credentials_are_sent(url: str, problem: str, dialled: list[Any]) -> None:
    sender = GuardedHttp(resolver=lambda host, port: ["93.184.215.14"])
    with pytest.raises(NotPerformed, match=problem):
        sender.send(_request(url))
    assert dialled == []


def test_plain_http_reaches_loopback_only_where_allowed(dialled: list[Any]) -> None:
    with pytest.raises(NotPerformed, match="loopback"):
        GuardedHttp(resolver=lambda h, p: ["127.0.0.1"]).send(_request("http://localhost:8080/x"))
    with pytest.raises(NotPerformed, match="no connection"):
        GuardedHttp(allow_loopback=True, resolver=lambda h, p: ["127.0.0.1"]).send(_request("http://localhost:8080/"))
    assert dialled == [("127.0.0.1", 8080)]


def test_a_name_that_does_not_resolve_is_worth_another_try() -> None:
    def nowhere(host: str, port: int) -> list[str]:
        raise socket.gaierror("Name or service not known")

    with pytest.raises(NotPerformed) as failed:
        GuardedHttp(resolver=nowhere).send(_request("https://nowhere.example/"))
    assert failure_class(failed.value) == "timeout"


def test_retries_wait_for_the_retry_after_the_other_side_asked_for_when_it_is_longer() -> None:
    decide = retry_strategy(RetryPolicy(attempts=3, backoff={"initial_seconds": 1, "max_seconds": 2}))
    throttled = NotPerformed("429", failure="throttled", retry_after=120.0)
    assert decide(throttled, 1).delay_seconds == 120
    quick = AmbiguousCall("503", failure="server_error", retry_after=0.5)
    assert decide(quick, 1).should_retry and decide(quick, 1).delay_seconds <= 2
    assert not decide(NotPerformed("422"), 1).should_retry
    assert not decide(throttled, 3).should_retry  # the policy's tries still bound it


def _call(**extra: Any) -> dict[str, Any]:
    return {"kind": "http_request", "url": "https://erp.example.com/{{ deal.id }}", **extra}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (_call(headers={"Idempotency-Key": "x"}), "set by Dealflow itself"),
        (_call(secret_headers={"Authorization": "../webhook-secret"}), "secret_headers"),
        (_call(method="GET", json_body={"a": "b"}), "carries no body"),
        (_call(json_body={"a": "b"}, form_body={"a": "b"}), "not both"),
        (_call(timeout_seconds=31), "timeout_seconds"),
        (_call(save_response={}), "name the status or at least one value"),
        (_call(save_response={"status": {"field": "a", "var": "b"}}), "either field or var"),
        (_call(headers={"X": "1"}, secret_headers={"x": "token"}), "also in headers"),
        (_call(url="ftp://erp.example.com/x"), "must start with https://"),
        (_call(url="erp.example.com/{{ deal.id }}"), "must start with https://"),
    ],
)
def test_what_an_http_request_may_not_say(body: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        HttpRequest.model_validate(body)


def test_a_field_the_answer_is_saved_into_is_a_write_the_loop_check_and_the_warnings_see() -> None:
    saver = a_rule(
        "erp-score",
        _call(save_response={"values": {"score": {"field": "budget"}}}),
        stage_id="proposal",
    )
    trigger = automation_of(
        kind="trigger",
        id="budget-to-proposal",
        name="budget-to-proposal",
        pipeline_id="sales",
        stage_id="proposal",
        event="field_changed",
        field="budget",
        allow_backwards=True,
    )
    assert [loop.members for loop in find_loops([saver, trigger])] != []
    fields = [f for f in some_fields() if f.code != "budget"]
    warnings = compiled_tenant(fields=fields, automation=[saver]).warnings
    assert warnings == {"erp-score": ["field 'budget' no longer exists (actions.0.save_response.values.score.field)"]}


def test_an_http_request_travels_through_export_and_import_with_its_secrets_named_only() -> None:
    action = _call(
        secret_headers={"Authorization": "erp-token"},
        json_body={"id": "{{ deal.id }}"},
        save_response={"status": {"var": "code"}, "values": {"data.id": {"field": "budget"}}},
        ambiguous="hold",
    )
    store = FakeAutomationStore(automation=[a_rule("erp", action)])
    document = json.loads(to_json(export_document(store.load(TENANT_ID))))
    [exported] = [a for a in document["automation"] if a["id"] == "erp"]
    assert exported["actions"][0]["secret_headers"] == {"Authorization": "erp-token"}

    other = FakeAutomationStore(a_tenant("globex"), pipelines=[], fields=[], automation=[])
    known = other.load("globex")
    changes, _, _ = import_changes(validate_document(document, known), known)
    write_changes(other, "globex", known, changes)

    again = json.loads(to_json(export_document(other.load("globex"))))
    assert [a for a in again["automation"] if a["id"] == "erp"] == [exported]


def test_only_a_request_the_other_side_took_counts_as_an_effect() -> None:
    answers = iter([503, 429, 201])

    class Answering:
        def send(self, request: OutgoingRequest) -> HttpReply:
            return HttpReply(next(answers), {}, b"", 0.01, "93.184.215.14")

    metrics = FakeMetrics()
    counted = CountedHttp(Answering(), metrics)
    for _ in range(3):
        counted.send(_request("https://erp.example.com/"))
    assert metrics.total(EFFECTS, effect="http_request") == 1
