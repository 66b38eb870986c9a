"""What goes to SES and SNS stays within their limits: recipients, addresses, message size."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dealflow.aws.adapters import SesMailer
from dealflow.aws.message_limits import fit_sns_message, sns_publish_bytes
from dealflow.limits import MAX_SES_RECIPIENTS_PER_MESSAGE, MAX_SNS_MESSAGE_BYTES
from dealflow.model import Tenant

ATTRIBUTES = {
    "tenant_id": {"DataType": "String", "StringValue": "acme"},
    "user_ids": {"DataType": "String.Array", "StringValue": '["u-head", "u-anna"]'},
}


def test_attributes_count_towards_the_256_kib() -> None:
    assert sns_publish_bytes("€", ATTRIBUTES) == 3 + len("tenant_idStringacme") + len(
        'user_idsString.Array["u-head", "u-anna"]'
    )


def test_a_message_that_fits_with_its_attributes_is_left_whole() -> None:
    exact = "x" * (MAX_SNS_MESSAGE_BYTES - sns_publish_bytes("", ATTRIBUTES))
    assert fit_sns_message(exact, ATTRIBUTES) == exact


def test_one_byte_more_is_cut_to_whole_kib_with_a_marker_and_fits() -> None:
    over = "x" * (MAX_SNS_MESSAGE_BYTES - sns_publish_bytes("", ATTRIBUTES) + 1)
    cut = fit_sns_message(over, ATTRIBUTES)
    assert cut == "x" * 255 * 1024 + f"\n… [truncated: {len(over) / 1024:.1f} KiB, showing the first 255 KiB]"
    assert sns_publish_bytes(cut, ATTRIBUTES) <= MAX_SNS_MESSAGE_BYTES


def test_a_cut_never_splits_a_character() -> None:
    cut = fit_sns_message("😀" * 100_000, ATTRIBUTES)  # 390.6 KiB of four-byte characters
    head, marker = cut.split("\n…")
    assert set(head) == {"😀"} and len(head.encode()) == 255 * 1024  # 255 KiB is a multiple of 4
    assert marker == " [truncated: 390.6 KiB, showing the first 255 KiB]"


class RecordingSes:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def send_email(self, **request: Any) -> dict[str, str]:
        self.requests.append(request)
        return {"MessageId": f"m-{len(self.requests)}"}


def test_the_tenant_name_shows_on_the_stack_sender_and_replies_go_to_the_tenant() -> None:
    ses = RecordingSes()
    SesMailer(ses).send(
        sender="automation@dealflow.example",
        sender_name='Acme "Best"\nLtd',
        reply_to="sales@bücher.example",
        to=["anna@bücher.example"],
        subject="s",
        body="b",
    )
    [request] = ses.requests
    assert request["FromEmailAddress"] == '"Acme \\"Best\\" Ltd" <automation@dealflow.example>'
    assert request["ReplyToAddresses"] == ["sales@xn--bcher-kva.example"]
    assert request["Destination"] == {"ToAddresses": ["anna@xn--bcher-kva.example"]}


def test_no_more_recipients_than_ses_takes_reach_it() -> None:
    ses = RecordingSes()
    to = [f"p{n}@acme.example" for n in range(MAX_SES_RECIPIENTS_PER_MESSAGE + 1)]
    SesMailer(ses).send(sender="a@dealflow.example", to=to[:-1], subject="s", body="b")
    with pytest.raises(ValueError, match="51 recipients in one message; SES takes at most 50"):
        SesMailer(ses).send(sender="a@dealflow.example", to=to, subject="s", body="b")
    assert len(ses.requests) == 1


def test_a_reply_address_ses_cannot_take_is_refused_when_the_tenant_is_saved() -> None:
    assert Tenant(id="t", name="T", sender_email="sales@bücher.example").sender_email == "sales@bücher.example"
    with pytest.raises(ValidationError, match=r"sender_email\n.*part before the @ is ASCII"):
        Tenant(id="t", name="T", sender_email="jürgen@acme.example")
