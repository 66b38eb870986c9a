"""``notify_on_failure``: tell the automation's owner or the tenant's administrators that a run
failed — which step, why, how often it was tried — with a link to the run.

The failure is the last one the run handled (``run.error``: an action with ``on_error: continue``
or a fault branch). With none there is nothing to report and nothing is sent. Each message goes
through the effect ledger under its own key, as every e-mail and notification does: a retried
step sends nobody a second one.
"""

from __future__ import annotations

from typing import Any

from dealflow.engine.actions.context import ActionContext, ActionError
from dealflow.engine.actions.messages import recipient_key
from dealflow.headers import header_text
from dealflow.language import templates
from dealflow.model import NotifyOnFailure, Role, User
from dealflow.model.automation import AMBIGUOUS_DEFAULTS

_AMBIGUOUS = AMBIGUOUS_DEFAULTS["notify_on_failure"]


def _people(action: NotifyOnFailure, ctx: ActionContext) -> list[User]:
    """The owner (who last saved the automation) and/or the administrators; an owner who is no
    longer a user of the tenant (or unknown: saved before owners were recorded) hands over to the
    administrators, so a failure never goes unreported."""
    # The tenant as it is now: a run's snapshot keeps only the users its actions name.
    tenant = ctx.services.automation.load(ctx.tenant.id).tenant
    found: list[User] = []
    owner = tenant.user(ctx.owner_id) if ctx.owner_id else None
    if "owner" in action.audience and owner is not None:
        found.append(owner)
    if "administrators" in action.audience or owner is None:
        found += [u for u in tenant.users if u.role is Role.ADMIN]
    people = list({u.id: u for u in found}.values())
    if not people:
        raise ActionError("no one to tell: the automation has no owner and the tenant no administrator")
    return people


def render_failure_notice(action: NotifyOnFailure, ctx: ActionContext) -> dict[str, Any] | None:
    """The notice's recipients, subject and text; None when the run has no failure to report."""
    error = ctx.run.get("error")
    if error is None:
        return None
    people = _people(action, ctx)
    automation, deal = ctx.run.get("automation", ""), ctx.deal
    item = f"{deal.entity} '{deal.title}' ({deal.id})"
    tried = f" after {error['attempts']} tries" if (error.get("attempts") or 1) > 1 else ""
    lines = [
        f"Automation '{automation}' failed at step '{error['step']}'{tried} on {item}:",
        str(error["reason"]),
        "",
        f"The run: {ctx.run.get('url')}",
    ]
    extra = templates.render_text(action.message, ctx.template_variables()).strip() if action.message else ""
    if extra:
        lines += ["", extra]
    return {
        "users": [u.id for u in people],
        "emails": [str(u.email) for u in people],
        "subject": header_text(f"Automation '{automation}' failed on {item}"),
        "message": "\n".join(lines),
    }


def notify_on_failure(action: NotifyOnFailure, ctx: ActionContext) -> dict[str, Any]:
    notice = render_failure_notice(action, ctx)
    if notice is None:
        return {"sent": False, "reason": "the run has no failure to report"}
    result: dict[str, Any] = {**notice, "sent": True}
    if "email" in action.channels:
        sender = ctx.services.sender
        if not sender:
            raise ActionError("no sender e-mail address is configured (the stack's SENDER_EMAIL)")
        message_ids: dict[str, Any] = {}
        for address in notice["emails"]:

            def send(address: str = address) -> dict[str, Any]:
                message_id = ctx.services.mailer.send(
                    sender=sender, to=[address], subject=notice["subject"], body=notice["message"]
                )
                return {"message_id": message_id}

            outcome = ctx.services.ledger.once(ctx.tenant.id, recipient_key(ctx.effect_key, address), send, _AMBIGUOUS)
            message_ids[address] = outcome.get("message_id") or outcome.get("status")
        result["message_ids"] = message_ids
    if "notification" in action.channels:

        def publish() -> dict[str, Any]:
            message_id = ctx.services.notifier.notify(
                tenant_id=ctx.tenant.id, deal_id=ctx.deal.id, user_ids=notice["users"], message=notice["message"]
            )
            return {"message_id": message_id}

        published = ctx.services.ledger.once(ctx.tenant.id, f"{ctx.effect_key}:notification", publish, _AMBIGUOUS)
        result["notification"] = published.get("message_id") or published.get("status")
    return result
