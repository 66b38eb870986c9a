"""E-mail (SES) and notifications (SNS): rendered once, sent at most once per effect key."""

from __future__ import annotations

from typing import Any

from dealflow.engine.actions.context import ActionContext, ActionError
from dealflow.headers import header_text
from dealflow.language import templates
from dealflow.model import Notify, SendEmail


def render_email(action: SendEmail, ctx: ActionContext) -> dict[str, Any]:
    variables = ctx.template_variables()
    return {
        "to": ctx.email_addresses(action.to),
        # One header line, whatever the deal's title or a constant brought in (test mode shows it so).
        "subject": header_text(templates.render_text(action.subject, variables)),
        "body": templates.render_text(action.body, variables),
    }


def send_email(action: SendEmail, ctx: ActionContext) -> dict[str, Any]:
    sender = ctx.tenant.sender_email or ctx.services.sender
    if not sender:
        raise ActionError("no sender e-mail address is configured for this tenant")
    email = render_email(action, ctx)

    def send() -> dict[str, Any]:
        message_id = ctx.services.mailer.send(sender=str(sender), **email)
        return {"message_id": message_id}

    return {**email, **ctx.services.ledger.once(ctx.tenant.id, ctx.effect_key, send)}


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

    return {**note, **ctx.services.ledger.once(ctx.tenant.id, ctx.effect_key, publish)}
