"""The webhook signature scheme v1 (pure functions, no AWS), the event model and the secret source."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from dealflow.aws.secrets import ParameterStoreSecrets
from dealflow.webhooks import (
    BadRequest,
    Invalid,
    SignatureError,
    parse_event,
    parse_secrets,
    sign,
    signed_headers,
    verify,
)

SECRET = "whsec_test_0123456789abcdef"
NOW = 1_795_429_333
BODY = b'{"id":"evt-1","kind":"invoice_paid","deal_id":"d-1"}'
EVENTS = Path(__file__).resolve().parents[2] / "events"


def _check(
    secrets: Any = SECRET,
    timestamp: str | None = str(NOW),
    signature: str | None = None,
    body: bytes = BODY,
    now: float = NOW,
) -> int:
    signature = sign(SECRET, NOW, BODY) if signature is None else signature
    return verify(secrets, timestamp, signature, body, now=now)


def _reason(**kwargs: Any) -> str:
    with pytest.raises(SignatureError) as caught:
        _check(**kwargs)
    return caught.value.reason


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_in_hex() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == f"v1={expected}"
    assert sign(SECRET, str(NOW), BODY.decode()) == f"v1={expected}"  # str body = its UTF-8 bytes


def test_a_good_signature_verifies_and_returns_the_timestamp() -> None:
    assert _check() == NOW


def test_signed_headers_carry_timestamp_and_signature() -> None:
    headers = signed_headers(SECRET, BODY, timestamp=NOW)
    assert verify(SECRET, headers["X-Dealflow-Timestamp"], headers["X-Dealflow-Signature"], BODY, now=NOW) == NOW


def test_a_wrong_secret_is_refused() -> None:
    assert _reason(secrets="another-secret") == "signature does not match"


def test_no_secret_at_all_is_refused_like_a_wrong_one() -> None:
    assert _reason(secrets=[]) == "signature does not match"


def test_a_tampered_body_is_refused() -> None:
    assert _reason(body=BODY.replace(b"d-1", b"d-2")) == "signature does not match"


def test_a_signature_is_bound_to_its_timestamp() -> None:
    # Same body, timestamp moved by a second (still fresh): the old signature no longer fits.
    assert _reason(timestamp=str(NOW + 1)) == "signature does not match"


@pytest.mark.parametrize("skew", [301, 3600, 86_400 * 365])
def test_a_stale_timestamp_is_refused(skew: int) -> None:
    assert "too old" in _reason(now=NOW + skew)


@pytest.mark.parametrize("skew", [301, 3600])
def test_a_timestamp_from_the_future_is_refused(skew: int) -> None:
    assert "too far in the future" in _reason(now=NOW - skew)


@pytest.mark.parametrize("skew", [-300, -1, 0, 1, 300])
def test_five_minutes_either_way_are_accepted(skew: int) -> None:
    assert _check(now=NOW + skew) == NOW


def test_rotation_two_signatures_in_one_header() -> None:
    new, old = sign("new-secret", NOW, BODY), sign(SECRET, NOW, BODY)
    both = f"{new},{old}"
    assert _check(secrets=SECRET, signature=both) == NOW
    assert _check(secrets="new-secret", signature=both) == NOW
    assert _check(secrets=SECRET, signature=f"{new}, {old}") == NOW  # spaces after commas are fine


def test_rotation_two_secrets_in_one_parameter() -> None:
    parameter = f"new-secret\n{SECRET}\n"
    assert parse_secrets(parameter) == ["new-secret", SECRET]
    assert _check(secrets=parameter) == NOW
    assert _check(secrets=parameter, signature=sign("new-secret", NOW, BODY)) == NOW
    assert _reason(secrets="new-secret\nthird") == "signature does not match"


def test_other_schemes_are_ignored_and_uppercase_hex_is_accepted() -> None:
    digest = sign(SECRET, NOW, BODY).removeprefix("v1=")
    assert _check(signature=f"v0=deadbeef,v1={digest.upper()}") == NOW


@pytest.mark.parametrize(
    ("timestamp", "signature", "expected"),
    [
        (None, None, "missing X-Dealflow-Timestamp header"),
        ("", None, "missing X-Dealflow-Timestamp header"),
        (str(NOW), "", "missing X-Dealflow-Signature header"),
        ("12.5", None, "unix time in whole seconds"),
        ("-1", None, "unix time in whole seconds"),
        ("1" * 40, None, "unix time in whole seconds"),
        ("2026-11-23T10:00:00Z", None, "unix time in whole seconds"),
        (str(NOW), "sha256=abc", "has no v1 signature"),
        (str(NOW), "deadbeef", "malformed X-Dealflow-Signature"),
        (str(NOW), "v1=not-hex", "malformed X-Dealflow-Signature"),
        (str(NOW), "v1=abc123", "malformed X-Dealflow-Signature"),
        (str(NOW), "v1=" + "é" * 64, "malformed X-Dealflow-Signature"),
        (str(NOW), ",".join(["v1=" + "0" * 64] * 9), "more than 8 signatures"),
    ],
)
def test_malformed_headers_are_refused_with_a_reason(
    timestamp: str | None, signature: str | None, expected: str
) -> None:
    with pytest.raises(SignatureError) as caught:
        verify(SECRET, timestamp, sign(SECRET, NOW, BODY) if signature is None else signature, BODY, now=NOW)
    assert expected in caught.value.reason


def test_missing_signature_header() -> None:
    with pytest.raises(SignatureError, match="missing X-Dealflow-Signature header"):
        verify(SECRET, str(NOW), None, BODY, now=NOW)


def test_the_sample_event_is_signed_with_the_documented_sample_secret() -> None:
    event = json.loads((EVENTS / "webhook-invoice-paid.json").read_text())
    headers = event["headers"]
    stamp = int(headers["x-dealflow-timestamp"])
    assert (
        verify(
            "whsec_acme_sample_do_not_use_in_production",
            headers["x-dealflow-timestamp"],
            headers["x-dealflow-signature"],
            event["body"],
            now=stamp + 10,
        )
        == stamp
    )
    assert parse_event(event["body"].encode()).kind == "invoice_paid"


# ---- the event body -------------------------------------------------------------------------------


def test_a_valid_event_parses() -> None:
    event = parse_event(
        json.dumps(
            {
                "id": "evt-1",
                "kind": "custom",
                "custom_event": "contract_signed",
                "deal_id": "d-1",
                "occurred_at": "2026-11-23T10:00:00+01:00",
                "data": {"by": "docusign"},
            }
        ).encode()
    )
    assert (event.kind, event.custom_event, event.data) == ("custom", "contract_signed", {"by": "docusign"})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"id": NaN}', "not valid JSON"),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    ],
)
def test_a_body_that_is_not_json_is_a_bad_request(body: bytes, reason: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_event(body)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "invoice_paid", "deal_id": "d-1"}, "id"),
        ({"id": "", "kind": "invoice_paid", "deal_id": "d-1"}, "id"),
        ({"id": "x" * 129, "kind": "invoice_paid", "deal_id": "d-1"}, "id"),
        ({"id": "has space", "kind": "invoice_paid", "deal_id": "d-1"}, "id"),
        ({"id": "e", "kind": "invoice_sent", "deal_id": "d-1"}, "kind"),
        ({"id": "e", "kind": "field_changed", "deal_id": "d-1"}, "kind"),  # internal events cannot be posted
        ({"id": "e", "kind": "invoice_paid"}, "deal_id"),
        ({"id": "e", "kind": "invoice_paid", "deal_id": "../other"}, "deal_id"),
        ({"id": "e", "kind": "custom", "deal_id": "d-1"}, "custom_event"),
        ({"id": "e", "kind": "invoice_paid", "deal_id": "d-1", "custom_event": "x"}, "custom_event"),
        ({"id": "e", "kind": "invoice_paid", "deal_id": "d-1", "occurred_at": "2026-11-23T10:00:00"}, "occurred_at"),
        ({"id": "e", "kind": "invoice_paid", "deal_id": "d-1", "data": []}, "data"),
        ({"id": "e", "kind": "invoice_paid", "deal_id": "d-1", "dealId": "d-1"}, "dealId"),
        ([1, 2], "body"),
    ],
)
def test_an_invalid_event_names_the_field(payload: Any, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_event(json.dumps(payload).encode())
    assert field in [p["field"] for p in caught.value.body()["problems"]]
    assert caught.value.status == 422 and caught.value.body()["error"] == "validation"


# ---- the secret source ----------------------------------------------------------------------------


class _FakeProvider:
    def __init__(self, values: dict[str, str], error: str | None = None) -> None:
        self.values, self.error, self.calls = values, error, 0

    def get(self, name: str, *, decrypt: bool, max_age: int) -> str:
        assert decrypt is True and max_age == 300
        self.calls += 1
        code = self.error or ("ParameterNotFound" if name not in self.values else None)
        if code:
            try:
                raise ClientError({"Error": {"Code": code, "Message": "x"}}, "GetParameter")
            except ClientError as exc:
                raise GetParameterError(str(exc))  # noqa: B904 - as powertools raises it
        return self.values[name]

    def clear_cache(self) -> None:
        pass


def test_secrets_come_from_the_tenants_parameter_one_per_line() -> None:
    provider = _FakeProvider({"/dealflow/tenants/acme/webhook-secret": "a\nb\n"})
    assert parse_secrets(ParameterStoreSecrets(provider).secrets("acme") or "") == ["a", "b"]


def test_a_missing_parameter_is_no_secret_and_is_remembered_for_a_while() -> None:
    provider = _FakeProvider({})
    source = ParameterStoreSecrets(provider, "/custom/prefix/")
    assert source.name("acme") == "/custom/prefix/acme/webhook-secret"
    assert source.secrets("ghost") is None
    assert source.secrets("ghost") is None
    assert provider.calls == 1
    source.clear()
    assert source.secrets("ghost") is None and provider.calls == 2


def test_other_ssm_errors_are_not_taken_for_a_missing_tenant() -> None:
    with pytest.raises(GetParameterError):
        ParameterStoreSecrets(_FakeProvider({}, error="ThrottlingException")).secrets("acme")
