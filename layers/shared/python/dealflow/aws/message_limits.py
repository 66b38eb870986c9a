"""SES's and SNS's message limits, checked before a call: the adapters keep within them and the
local harness (``dealflow.local.aws_limits``) refuses what AWS would refuse, from the same sums."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dealflow.limits import MAX_SES_RECIPIENTS_PER_MESSAGE, MAX_SNS_MESSAGE_BYTES


def ses_recipient_count(destination: Mapping[str, Any]) -> int:
    """Recipients of one SendEmail as SES counts them: To, Cc and Bcc together."""
    return sum(len(destination.get(k) or []) for k in ("ToAddresses", "CcAddresses", "BccAddresses"))


def too_many_recipients(destination: Mapping[str, Any]) -> bool:
    return ses_recipient_count(destination) > MAX_SES_RECIPIENTS_PER_MESSAGE


def sns_attributes_bytes(attributes: Mapping[str, Mapping[str, Any]]) -> int:
    """What message attributes add to a publish's size: each name, data type and value."""
    total = 0
    for name, attribute in attributes.items():
        value = attribute.get("StringValue")
        value_bytes = len(value.encode()) if isinstance(value, str) else len(attribute.get("BinaryValue") or b"")
        total += len(name.encode()) + len(str(attribute.get("DataType", "")).encode()) + value_bytes
    return total


def sns_publish_bytes(message: str, attributes: Mapping[str, Mapping[str, Any]]) -> int:
    """A Publish's size as SNS counts it against its 256 KiB: the message's UTF-8 bytes plus its
    attributes'."""
    return len(message.encode()) + sns_attributes_bytes(attributes)


def _kib(size: int) -> str:
    return f"{size / 1024:.1f}".removesuffix(".0")


def _marker(total: int, shown_kib: int) -> str:
    return f"\n… [truncated: {_kib(total)} KiB, showing the first {shown_kib} KiB]"


def fit_sns_message(message: str, attributes: Mapping[str, Mapping[str, Any]]) -> str:
    """``message`` as it fits one publish with ``attributes``: whole, or its first whole KiBs (cut
    on a character) and a marker saying how large it was — a long text is never a failed publish."""
    if sns_publish_bytes(message, attributes) <= MAX_SNS_MESSAGE_BYTES:
        return message
    encoded = message.encode()
    room = MAX_SNS_MESSAGE_BYTES - sns_attributes_bytes(attributes) - len(_marker(len(encoded), 9_999).encode())
    shown_kib = max(room, 0) // 1024
    head = encoded[: shown_kib * 1024].decode("utf-8", errors="ignore")
    return head + _marker(len(encoded), shown_kib)
