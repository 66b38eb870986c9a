"""SES's 50 recipients and SNS's 256 KiB, held on the local stack as on AWS (issue 20, item 3)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from dealflow.aws.adapters import SnsNotifier
from dealflow.aws.message_limits import sns_publish_bytes
from dealflow.limits import MAX_SES_RECIPIENTS_PER_MESSAGE, MAX_SNS_MESSAGE_BYTES
from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, demo_deal
from dealflow.model import FieldDefinition, Notify, Rule, SendEmail, User
from dealflow.model.automation import Recipients

MANY = 120


def _with_many_users(stack: MotoStack) -> list[str]:
    tenant = stack.automation.get_tenant(TENANT)
    extra = [User(id=f"u-{n:03}", name=f"Colleague {n}", email=f"colleague{n:03}@acme.example") for n in range(MANY)]
    stack.put_tenant(tenant.model_copy(update={"users": [*tenant.users, *extra]}))
    return [u.id for u in extra]


def _announce_to(stack: MotoStack, user_ids: list[str]) -> None:
    stack.put_rule(
        TENANT,
        Rule(
            id="negotiation-announce",
            name="Negotiation: tell everyone",
            pipeline_id="sales",
            stage_id="negotiation",
            actions=[SendEmail(to=Recipients(users=user_ids), subject="Negotiating {{ deal.title }}", body="-")],
        ),
    )


def _announcements(stack: MotoStack) -> list[Any]:
    return [e for e in stack.emails() if e.subject.startswith("Negotiating")]


def _runner_ses_events(stack: MotoStack) -> Any:
    """The event hooks of the SES client the runner built at its cold start."""
    mailer = stack._runner_app.SERVICES.mailer
    return getattr(mailer, "_mailer", mailer)._client.meta.events  # inside the counting wrapper


def _fail_once_at(call: int, seen: Counter[str], code: str = "Throttling") -> Any:
    """A botocore hook: SES answers the ``call``-th SendEmail with ``code`` (once), as in a
    sending-rate incident half-way through a list."""

    def hook(**_: Any) -> Any:
        seen["calls"] += 1
        if seen["calls"] != call:
            return None
        from botocore.awsrequest import AWSResponse

        parsed = {
            "Error": {"Code": code, "Message": "Maximum sending rate exceeded."},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return AWSResponse("", 400, {}, None), parsed

    return hook


def test_an_email_to_120_people_goes_out_once_to_each_in_its_own_message(stack: MotoStack) -> None:
    _announce_to(stack, _with_many_users(stack))
    stack.create_deal(demo_deal("d-1", "Data migration", "7300.00", "services"))
    stack.move_deal(TENANT, "d-1", "negotiation")
    stack.drain()

    sent = _announcements(stack)
    assert [len(e.to) for e in sent] == [1] * MANY  # nobody sees the other 119 addresses
    assert sorted(e.to[0] for e in sent) == [f"colleague{n:03}@acme.example" for n in range(MANY)]
    [run] = stack.runs(TENANT, "d-1")
    [step] = [s for s in run.steps if s.name.endswith("send_email")]
    assert (run.status, step.outcome, len(step.detail["message_ids"])) == ("completed", "done", MANY)


def test_a_send_refused_half_way_through_resends_only_to_those_not_reached(stack: MotoStack) -> None:
    _announce_to(stack, _with_many_users(stack))
    calls = Counter[str]()
    _runner_ses_events(stack).register("before-call.sesv2.SendEmail", _fail_once_at(61, calls), unique_id="throttle")
    stack.create_deal(demo_deal("d-1", "Data migration", "7300.00", "services"))
    stack.move_deal(TENANT, "d-1", "negotiation")
    stack.drain()

    sent = _announcements(stack)
    assert calls["calls"] == MANY + 1  # the 61st was refused and sent again on the step's retry
    assert Counter(e.to[0] for e in sent) == Counter({f"colleague{n:03}@acme.example": 1 for n in range(MANY)})
    [run] = stack.runs(TENANT, "d-1")
    assert run.status == "completed", run.reason


def test_the_same_email_run_again_sends_nothing_more(stack: MotoStack) -> None:
    _announce_to(stack, _with_many_users(stack)[:60])
    stack.create_deal(demo_deal("d-1", "Data migration", "7300.00", "services"))
    stack.move_deal(TENANT, "d-1", "negotiation")
    stack.drain()
    stack.runs_port._names.clear()  # a fresh invoke port: the run itself starts again
    stack.deliver([r for r in stack.delivered if r["eventName"] == "MODIFY"])
    stack.drain()

    assert len(_announcements(stack)) == 60
    [run] = stack.runs(TENANT, "d-1")
    assert [s.outcome for s in run.steps if s.name.endswith("send_email")] == ["duplicate"]


def test_mail_comes_from_the_stack_sender_under_the_tenant_name_and_replies_go_to_the_tenant(
    stack: MotoStack,
) -> None:
    tenant = stack.automation.get_tenant(TENANT)
    stack.put_tenant(tenant.model_copy(update={"name": "Acme Ünited, Ltd", "sender_email": "sales@acme.example"}))
    sent: list[dict[str, Any]] = []
    _runner_ses_events(stack).register(
        "before-parameter-build.sesv2.SendEmail", lambda params, **_: sent.append(dict(params)), unique_id="see"
    )
    _announce_to(stack, ["u-head"])
    stack.create_deal(demo_deal("d-1", "Data migration", "7300.00", "services"))
    stack.move_deal(TENANT, "d-1", "negotiation")
    stack.drain()

    [email] = _announcements(stack)
    assert email.sender == "=?utf-8?q?Acme_=C3=9Cnited=2C_Ltd?= <automation@dealflow.example>"
    [params] = [p for p in sent if p["Content"]["Simple"]["Subject"]["Data"].startswith("Negotiating")]
    assert params["ReplyToAddresses"] == ["sales@acme.example"]


# ---- the local stack refuses what AWS refuses -----------------------------------------------


def test_ses_takes_50_recipients_in_one_message_and_refuses_51(stack: MotoStack) -> None:
    ses = boto3.client("sesv2")
    content = {"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}}
    to = [f"p{n}@acme.example" for n in range(MAX_SES_RECIPIENTS_PER_MESSAGE)]
    ses.send_email(
        FromEmailAddress=stack.sender,
        Destination={"ToAddresses": to[:30], "CcAddresses": to[30:40], "BccAddresses": to[40:]},
        Content=content,
    )
    with pytest.raises(ClientError) as refused:
        ses.send_email(
            FromEmailAddress=stack.sender,
            Destination={"ToAddresses": to, "BccAddresses": ["one-too-many@acme.example"]},
            Content=content,
        )
    assert refused.value.response["Error"]["Code"] == "MessageRejected"
    assert "Recipient count exceeds 50" in refused.value.response["Error"]["Message"]


def _attributes(user_ids: str = "[]") -> dict[str, Any]:
    return {"user_ids": {"DataType": "String.Array", "StringValue": user_ids}}


def test_sns_takes_256_kib_counting_attributes_and_refuses_one_byte_more(stack: MotoStack) -> None:
    sns, topic = boto3.client("sns"), stack.resources.topics["NotificationsTopic"]
    attributes = _attributes('["u-head"]')
    room = MAX_SNS_MESSAGE_BYTES - sns_publish_bytes("", attributes)
    sns.publish(TopicArn=topic, Message="x" * room, MessageAttributes=attributes)
    with pytest.raises(ClientError) as refused:
        # Under 256 Ki characters, as moto counts; over 256 KiB in UTF-8 bytes with the attributes.
        sns.publish(TopicArn=topic, Message="€" * (room // 3) + "xx", MessageAttributes=attributes)
    assert refused.value.response["Error"]["Code"] == "InvalidParameter"
    assert "Message too long" in refused.value.response["Error"]["Message"]


# ---- SNS texts are capped, never a failed publish -------------------------------------------


def test_a_notification_quoting_a_large_field_is_cut_with_a_marker(stack: MotoStack) -> None:
    stack.put_field(TENANT, FieldDefinition(code="notes", name="Notes", kind="text"))
    stack.put_rule(
        TENANT,
        Rule(
            id="negotiation-notes",
            name="Negotiation: notes to the head of sales",
            pipeline_id="sales",
            stage_id="negotiation",
            actions=[
                Notify(
                    to=Recipients(users=["u-head"]),
                    message="Notes on {{ deal.title }}:{% for i in range(9) %}\n{{ deal.notes }}{% endfor %}",
                )
            ],
        ),
    )
    notes = "Call notes: " + "😀" * 10_000  # 40 KB in the deal's item; quoted nine times, 351.7 KiB
    deal = demo_deal("d-1", "Data migration", "7300.00", "services")
    stack.create_deal(deal.model_copy(update={"fields": {**deal.fields, "notes": notes}}))
    stack.move_deal(TENANT, "d-1", "negotiation")
    stack.drain()

    [run] = stack.runs(TENANT, "d-1")
    assert run.status == "completed", (run.reason, [(s.name, s.outcome) for s in run.steps])
    [note] = [n for n in stack.notifications() if n.message.startswith("Notes on")]
    full = len(("Notes on Data migration:" + f"\n{notes}" * 9).encode())
    assert full > MAX_SNS_MESSAGE_BYTES
    assert note.message.endswith(f"\n… [truncated: {full / 1024:.1f} KiB, showing the first 255 KiB]")
    assert note.message.startswith(f"Notes on Data migration:\n{notes}")
    assert sns_publish_bytes(note.message, _attributes('["u-head"]')) <= MAX_SNS_MESSAGE_BYTES


def test_a_notification_at_the_limit_goes_out_whole(stack: MotoStack) -> None:
    topic = stack.resources.topics["NotificationsTopic"]
    notifier = SnsNotifier(boto3.client("sns"), topic)
    probe = {
        "tenant_id": {"DataType": "String", "StringValue": TENANT},
        "deal_id": {"DataType": "String", "StringValue": "d-1"},
        "user_ids": {"DataType": "String.Array", "StringValue": '["u-head"]'},
    }
    exact = "x" * (MAX_SNS_MESSAGE_BYTES - sns_publish_bytes("", probe))
    notifier.notify(tenant_id=TENANT, deal_id="d-1", user_ids=["u-head"], message=exact)
    notifier.notify(tenant_id=TENANT, deal_id="d-1", user_ids=["u-head"], message=exact + "y")
    whole, cut = stack.notifications()[-2:]
    assert whole.message == exact
    assert cut.message.endswith(f"… [truncated: {(len(exact) + 1) / 1024:.1f} KiB, showing the first 255 KiB]")
    assert cut.message.startswith("x" * 255 * 1024)


def test_a_415_kib_notification_is_published_cut_to_fit_never_refused(stack: MotoStack) -> None:
    notifier = SnsNotifier(boto3.client("sns"), stack.resources.topics["NotificationsTopic"])
    text = "Notes: " + "Zażółć gęślą jaźń. " * 15_205  # 415.8 KiB of UTF-8
    assert f"{len(text.encode()) / 1024:.1f}" == "415.8"
    notifier.notify(tenant_id=TENANT, deal_id="d-1", user_ids=["u-head", "u-anna"], message=text)
    [note] = stack.notifications()
    assert note.message.endswith("\n… [truncated: 415.8 KiB, showing the first 255 KiB]")
    assert text.startswith(note.message.removesuffix("\n… [truncated: 415.8 KiB, showing the first 255 KiB]"))
    assert note.users == ["u-head", "u-anna"]
