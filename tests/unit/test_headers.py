"""One header line, whatever the text: what the engine renders and what the adapters send."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dealflow.aws.adapters import SnsNotifier
from dealflow.headers import address, header_text, mailbox


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        ("Won: Website", "Won: Website"),
        ("Won\r\nBcc: x@y.example", "Won Bcc: x@y.example"),
        ("Won\nBcc: x", "Won Bcc: x"),
        ("Won\rBcc: x", "Won Bcc: x"),
        ("Won\x85Bcc: x", "Won Bcc: x"),  # NEL
        ("Won\u2028Bcc: x", "Won Bcc: x"),  # line separator
        ("Won\u2029Bcc: x", "Won Bcc: x"),  # paragraph separator
        ("Won\x0b\x0c\x1c\x1d\x1e\tBcc: x", "Won Bcc: x"),
        ("Won\x00\x1b[31m red", "Won [31m red"),
        ("  Won: Zażółć 🎉  ", "Won: Zażółć 🎉"),
        ("Won:  two  spaces", "Won:  two  spaces"),  # text without controls is left as written
    ],
)
def test_header_text_is_one_line(raw: str, line: str) -> None:
    assert header_text(raw) == line


def test_an_address_with_a_control_character_is_refused() -> None:
    assert address(" ann@example.com ") == "ann@example.com"
    for bad in ["ann@example.com\r\nBcc: x@y", "ann@example.com\u2028", "ann@exa\x00mple.com"]:
        with pytest.raises(ValueError, match="holds a control character"):
            address(bad)


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        ("automation@dealflow.example", "automation@dealflow.example"),
        ("Acme Sales <sales@acme.example>", "Acme Sales <sales@acme.example>"),
        ("Acme\r\nBcc: x@y.example <sales@acme.example>", '"Acme Bcc: x@y.example" <sales@acme.example>'),
        ('"Acme, Inc." <sales@acme.example>', '"Acme, Inc." <sales@acme.example>'),
        ("Zażółć <sales@acme.example>", "=?utf-8?b?WmHFvMOzxYLEhw==?= <sales@acme.example>"),
    ],
)
def test_a_sender_keeps_its_display_name_on_one_line(raw: str, sent: str) -> None:
    assert mailbox(raw) == sent


class _Sns:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **request: Any) -> dict[str, str]:
        self.published.append(request)
        return {"MessageId": "m-1"}


def test_sns_message_attributes_are_one_line_and_the_message_keeps_its_lines() -> None:
    sns = _Sns()
    SnsNotifier(sns, "arn:aws:sns:eu-west-1:123456789012:t").notify(
        tenant_id="acme\r\nx", deal_id="d-1\u2028y", user_ids=["u-1\nz"], message="Won\nWebsite"
    )
    [request] = sns.published
    attributes = {k: v["StringValue"] for k, v in request["MessageAttributes"].items()}
    assert attributes["tenant_id"] == "acme x" and attributes["deal_id"] == "d-1 y"
    assert json.loads(attributes["user_ids"]) == ["u-1 z"]
    assert request["Message"] == "Won\nWebsite"
