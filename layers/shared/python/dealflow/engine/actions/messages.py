"""E-mail (SES) and notifications (SNS): rendered once, sent at most once per effect key.

An e-mail goes out as one message per recipient, each under its own effect key. Recipients of a
CRM notification (the team, the client's contact) should not see each other's addresses, and a
step retried after a failure part-way through a long list resends only to those it had not
reached: the ledger knows each recipient's message, so nobody gets two and nobody is skipped. One
message each also keeps every SES call far below its 50-recipient cap (``limits``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from dealflow.engine.actions.context import ActionContext, ActionError
from dealflow.headers import header_text
from dealflow.language import templates
from dealflow.model import Notify, SendEmail
from dealflow.model.automation import AMBIGUOUS_DEFAULTS, AmbiguousPolicy


def ambiguous_policy(action: SendEmail | Notify) -> AmbiguousPolicy:
    """What an ambiguous failure of this action's message means: its own choice, else its kind's."""
    return action.ambiguous or AMBIGUOUS_DEFAULTS[action.kind]


def render_email(action: SendEmail, ctx: ActionContext) -> dict[str, Any]:
    variables = ctx.template_variables()
    return {
        "to": ctx.email_addresses(action.to),
        # One header line, whatever the deal's title or a constant brought in (test mode shows it so).
        "subject": header_text(templates.render_text(action.subject, variables)),
        "body": templates.render_text(action.body, variables),
    }


def recipient_key(effect_key: str, address: str) -> str:
    """The effect key of one recipient's message: the same on every retry of the step, whatever
    the recipients' order; hashed so the ledger's keys carry no addresses."""
    return f"{effect_key}:to:{hashlib.sha256(address.encode()).hexdigest()[:24]}"


def send_email(action: SendEmail, ctx: ActionContext) -> dict[str, Any]:
    # From is always the stack's verified identity (the only one SES and the runner's role let
    # it send as), shown under the tenant's name; the tenant's own address takes the replies.
    sender = ctx.services.sender
    if not sender:
        raise ActionError("no sender e-mail address is configured (the stack's SENDER_EMAIL)")
    reply_to = str(ctx.tenant.sender_email) if ctx.tenant.sender_email else None
    email = render_email(action, ctx)
    message_ids: dict[str, str] = {}
    unconfirmed: dict[str, str] = {}
    repeated = 0
    policy = ambiguous_policy(action)
    for address in email["to"]:

        def send(address: str = address) -> dict[str, Any]:
            message_id = ctx.services.mailer.send(
                sender=sender,
                sender_name=ctx.tenant.name,
                reply_to=reply_to,
                to=[address],
                subject=email["subject"],
                body=email["body"],
            )
            return {"message_id": message_id}

        outcome = ctx.services.ledger.once(ctx.tenant.id, recipient_key(ctx.effect_key, address), send, policy)
        repeated += bool(outcome.get("duplicate"))
        if outcome.get("status") == "unconfirmed":
            unconfirmed[address] = outcome.get("reason", "")
        elif outcome.get("message_id"):
            message_ids[address] = outcome["message_id"]
    result: dict[str, Any] = {**email, "reply_to": reply_to, "message_ids": message_ids}
    if unconfirmed:
        # Held for a person (``ambiguous: hold``): the run fails at this step, saying to whom.
        result["unconfirmed"] = list(unconfirmed)
        first = next(iter(unconfirmed.values()))
        result["reason"] = f"{len(unconfirmed)} message(s) unconfirmed ({', '.join(unconfirmed)}): {first}"
    # A duplicate only when nothing went out this time: the step had done it all before.
    result["duplicate"] = bool(email["to"]) and repeated == len(email["to"])
    return result


def render_notification(action: Notify, ctx: ActionContext) -> dict[str, Any]:
    return {
        "users": ctx.user_ids(action.to),
        "message": templates.render_text(action.message, ctx.template_variables()),
    }


def notify(action: Notify, ctx: ActionContext) -> dict[str, Any]:
    note = render_notification(action, ctx)

    def publish() -> dict[str, Any]:
        message_id = ctx.services.notifier.notify(
            tenant_id=ctx.tenant.id, deal_id=ctx.deal.id, user_ids=note["users"], message=note["message"]
        )
        return {"message_id": message_id}

    return {**note, **ctx.services.ledger.once(ctx.tenant.id, ctx.effect_key, publish, ambiguous_policy(action))}
