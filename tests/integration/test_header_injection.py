"""Headers are data: whatever a header's text came from — a subject template, a deal's title typed
into a web form, a constant, a user's name, the sender's display name — no line break or other
control character reaches SES as part of a header, so no text can add a ``Bcc:`` of its own."""

from __future__ import annotations

import re
from typing import Any

import boto3
import pytest

from dealflow.aws.adapters import SesMailer
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import Rule, TypedValue

INJECTIONS = ["\r\nBcc: evil@attacker.example", "\nBcc: evil@attacker.example", "\u2028Bcc: evil@attacker.example"]
INJECTIONS += ["\x85Bcc: evil@attacker.example", "\u2029\rBcc: evil@attacker.example", "\x00\x1b[2JBcc: x"]
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _mail_rule(subject: str) -> Rule:
    return Rule.model_validate(
        {
            "kind": "rule",
            "id": "won-mail",
            "name": "Won: mail the head",
            "pipeline_id": "sales",
            "stage_id": "won",
            "actions": [{"kind": "send_email", "to": {"users": ["u-head"]}, "subject": subject, "body": "Well done"}],
        }
    )


def _subject_sent(stack: MotoStack, title: str = "Website") -> str:
    stack.create_deal(demo_deal("d-1", title, "100.00", "services", responsible="u-head"))
    stack.drain()
    stack.move_deal(TENANT, "d-1", "won")
    stack.drain()
    [email] = [e for e in stack.emails() if e.to == ["helena@acme.example"]]
    return email.subject


def _assert_one_line(subject: str) -> None:
    assert not CONTROL.search(subject), repr(subject)
    assert subject.startswith("Won: ") and "Bcc: " in subject  # kept, as text on the one line


@pytest.mark.parametrize("injection", INJECTIONS)
def test_a_subject_template_cannot_add_a_header(stack: MotoStack, injection: str) -> None:
    stack.put_automation(TENANT, _mail_rule("Won: {{ deal.title }}" + injection))
    _assert_one_line(_subject_sent(stack))


@pytest.mark.parametrize("injection", INJECTIONS)
def test_a_deal_title_from_a_web_form_cannot_add_a_header(stack: MotoStack, injection: str) -> None:
    stack.put_automation(TENANT, _mail_rule("Won: {{ deal.title }}"))
    _assert_one_line(_subject_sent(stack, title="Website" + injection))


def test_a_constant_cannot_add_a_header(stack: MotoStack) -> None:
    tenant = stack.automation.get_tenant(TENANT)
    constants = {**tenant.constants, "brand": TypedValue(type="text", value="Acme\r\nBcc: evil@attacker.example")}
    stack.put_tenant(tenant.model_copy(update={"constants": constants}))
    stack.put_automation(TENANT, _mail_rule("Won: {{ const.brand }} {{ deal.title }}"))
    subject = _subject_sent(stack)
    _assert_one_line(subject)
    assert subject == "Won: Acme Bcc: evil@attacker.example Website"


def test_a_user_name_cannot_add_a_header(stack: MotoStack) -> None:
    tenant = stack.automation.get_tenant(TENANT)
    users = [
        u.model_copy(update={"name": "Helena\u2028Bcc: evil@attacker.example"}) if u.id == "u-head" else u
        for u in tenant.users
    ]
    stack.put_tenant(tenant.model_copy(update={"users": users}))
    stack.put_automation(TENANT, _mail_rule("Won: {{ deal.title }} by {{ deal.responsible.name }}"))
    subject = _subject_sent(stack)
    _assert_one_line(subject)
    assert subject == "Won: Website by Helena Bcc: evil@attacker.example"


def test_test_mode_shows_the_subject_as_it_will_be_sent(stack: MotoStack) -> None:
    stack.create_deal(demo_deal("d-1", "Website\r\nBcc: evil@attacker.example", "100.00", "services"))
    stack.drain()
    stack.put_automation(TENANT, _mail_rule("Won: {{ deal.title }}"))
    claims = {"sub": "u-admin", "custom:tenant_id": TENANT, "custom:role": "admin"}
    status, body = stack.api("POST", "/automation/won-mail/test", {"deal_id": "d-1"}, claims=claims)
    assert status == 200, body
    subjects = _values_of(body, "subject")
    assert subjects == ["Won: Website Bcc: evil@attacker.example"]


def _values_of(data: Any, key: str) -> list[Any]:
    """Every value stored under ``key`` anywhere in ``data`` (test mode's answer nests its effects)."""
    if isinstance(data, dict):
        return [v for k, v in data.items() if k == key] + [x for v in data.values() for x in _values_of(v, key)]
    if isinstance(data, list):
        return [x for v in data for x in _values_of(v, key)]
    return []


def test_the_sender_display_name_cannot_add_a_header(stack: MotoStack) -> None:
    # The sender comes from configuration (SenderEmail may carry a display name); the adapter is
    # what every e-mail passes, so it is tried on its own against the same moto SES.
    SesMailer(boto3.client("sesv2")).send(
        sender="Sales\r\nBcc: evil@attacker.example <automation@dealflow.example>",
        to=["ann@example.com"],
        subject="Hi\u2029there",
        body="Line one\r\nLine two",
    )
    [sent] = stack.emails()
    assert sent.sender == '"Sales Bcc: evil@attacker.example" <automation@dealflow.example>'
    assert sent.subject == "Hi there"
    assert sent.body == "Line one\r\nLine two"  # a body keeps its lines


def test_an_address_carrying_a_header_is_not_sent_to(stack: MotoStack) -> None:
    with pytest.raises(ValueError, match="holds a control character"):
        SesMailer(boto3.client("sesv2")).send(
            sender="automation@dealflow.example",
            to=["ann@example.com\r\nBcc: evil@attacker.example"],
            subject="Hi",
            body="Body",
        )
    assert stack.emails() == []
