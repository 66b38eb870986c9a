"""The ``http_request`` action: render, sign, send once, judge the answer, save what was asked.

The request is rendered from its templates, signed with the tenant's outgoing secret (the ``v1``
scheme incoming webhooks use: ``dealflow.signatures``) and keyed: ``Idempotency-Key`` is derived
from the run and the step, the same on every try, so a receiver can drop a repeat. It goes out
through the effect ledger: once a try succeeded, a retried step (a field it saves refused for a
moment) finds the answer in the ledger and sends nothing. A 429, a 408 and a 5xx are worth another
try (with the step's back-off, or the ``Retry-After`` the other side asked for); a 5xx or a
timeout after the request left may have been carried out: the action's ``ambiguous`` policy (by
default ``retry``) decides. Any other answer fails the action with the status and an excerpt.

Every try is one entry of the step's delivery log (``deliveries``): status, duration, sizes and
excerpts of both bodies. Secret header values are read only when sending and never shown.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from decimal import Decimal
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

from dealflow import clock
from dealflow.engine.actions.context import ActionContext, ActionError
from dealflow.engine.actions.deals import coerce, with_values
from dealflow.engine.checkpoints import from_json, to_json
from dealflow.engine.run_record import excerpt, stamp
from dealflow.headers import header_text
from dealflow.language import templates
from dealflow.model.automation import AMBIGUOUS_DEFAULTS
from dealflow.model.http_request import HttpRequest, SaveResponse, SaveTarget, TypedBodyValue
from dealflow.ports import AmbiguousCall, CallFailed, HttpReply, NotPerformed, OutgoingRequest
from dealflow.signatures import signature_headers

IDEMPOTENCY_HEADER = "Idempotency-Key"
MASKED = "********"
USER_AGENT = "Dealflow-Automation/1"
# Answers worth another try; a 5xx may also have been carried out (ambiguous), the others not.
_NOT_TAKEN = {429: "throttled", 408: "timeout"}
MAX_RETRY_AFTER_SECONDS = 300  # what a receiver's Retry-After may ask of a run at most


def idempotency_key(effect_key: str) -> str:
    """The key a receiver sees: the same for every try of one step of one run (and of a retry of
    that run, which reuses its effect keys); hashed, so it shows no run or automation ids."""
    return hashlib.sha256(f"http:{effect_key}".encode()).hexdigest()[:32]


def _render(action: HttpRequest, ctx: ActionContext) -> tuple[str, dict[str, str], bytes, str | None]:
    variables = ctx.template_variables()
    url = templates.render_text(action.url, variables).strip()
    headers = {name: header_text(templates.render_text(text, variables)) for name, text in action.headers.items()}
    body, content_type = b"", None
    if action.json_body is not None:
        values = {key: _json_value(key, spec, variables) for key, spec in action.json_body.items()}
        body, content_type = json.dumps(values, ensure_ascii=False).encode(), "application/json"
    elif action.form_body is not None:
        rendered = {key: templates.render_text(text, variables) for key, text in action.form_body.items()}
        body, content_type = urlencode(rendered).encode(), "application/x-www-form-urlencoded"
    return url, headers, body, content_type


def _number(text: str) -> int | float:
    number = Decimal(text)
    if not number.is_finite():
        raise ValueError(text)
    return int(number) if number == number.to_integral_value() else float(number)


def _integer(text: str) -> int:
    number = Decimal(text)
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError(text)
    return int(number)


def _boolean(text: str) -> bool:
    return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}[text.lower()]


_READ_AS: dict[str, tuple[Callable[[str], Any], str]] = {
    "number": (_number, "a number"),
    "integer": (_integer, "a whole number"),
    "boolean": (_boolean, "true or false"),
    "json": (json.loads, "JSON"),
}


def _json_value(key: str, spec: str | TypedBodyValue, variables: dict[str, Any]) -> Any:
    """One value of a JSON body: a template's text, or a typed value read from its rendered text."""
    if isinstance(spec, str):
        return templates.render_text(spec, variables)
    text = templates.render_text(spec.template, variables)
    if spec.type == "text":
        return text
    if not text.strip():
        return None
    read, what = _READ_AS[spec.type]
    try:
        return read(text.strip())
    except (ValueError, KeyError, ArithmeticError):
        shown = text if len(text) <= 60 else text[:60] + "…"
        raise ActionError(f"json_body.{key}: {shown!r} is not {what}") from None


def shown_request(action: HttpRequest, ctx: ActionContext) -> dict[str, Any]:
    """The request as the run log and test mode show it: rendered, secret values masked."""
    url, headers, body, content_type = _render(action, ctx)
    shown = {**headers, **{name: f"{MASKED} (secret '{secret}')" for name, secret in action.secret_headers.items()}}
    if content_type:
        shown["Content-Type"] = content_type
    shown[IDEMPOTENCY_HEADER] = idempotency_key(ctx.effect_key)
    return {"method": action.method, "url": url, "headers": shown, "body": excerpt(body.decode("utf-8", "replace"))[0]}


def _secrets(action: HttpRequest, ctx: ActionContext) -> tuple[str, dict[str, str]]:
    store = ctx.services.http_secrets
    if store is None:
        raise ActionError("this stack reads no HTTP secrets (the runner's HttpSecrets are not configured)")
    signing = store.signing(ctx.tenant.id)
    if not signing:
        raise ActionError(
            "the tenant has no outgoing signing secret: create it with `dealflow http-secret signing <tenant>`"
        )
    values = {}
    for header, name in action.secret_headers.items():
        value = store.header(ctx.tenant.id, name)
        if value is None:
            raise ActionError(f"secret_headers.{header}: the tenant has no HTTP secret '{name}'")
        values[header] = header_text(value)
    return signing, values


def _request(action: HttpRequest, ctx: ActionContext, signing: str, secret_values: dict[str, str]) -> OutgoingRequest:
    url, headers, body, content_type = _render(action, ctx)
    sent = {"User-Agent": USER_AGENT, **headers, **secret_values, IDEMPOTENCY_HEADER: idempotency_key(ctx.effect_key)}
    if content_type:
        sent["Content-Type"] = content_type
    sent.update(signature_headers(signing, int(clock.now().timestamp()), body))
    return OutgoingRequest(action.method, url, sent, body, float(action.timeout_seconds))


def retry_after(reply: HttpReply) -> float | None:
    """The seconds a ``Retry-After`` header asks for (a number or an HTTP date), at most
    ``MAX_RETRY_AFTER_SECONDS``; None when absent or unreadable."""
    value = next((v for k, v in reply.headers.items() if k.lower() == "retry-after"), "").strip()
    if not value:
        return None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = (parsedate_to_datetime(value) - clock.now()).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _delivery(ctx: ActionContext, request: OutgoingRequest, reply: HttpReply | None, **more: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "attempt": ctx.attempt,
        "at": stamp(),
        "request_bytes": len(request.body),
        "request_body": excerpt(request.body.decode("utf-8", "replace"))[0],
    }
    if reply is not None:
        entry |= {
            "status": reply.status,
            "duration_ms": int(reply.seconds * 1000),
            "response_bytes": len(reply.body),
            "response_body": excerpt(reply.body.decode("utf-8", "replace"))[0],
            "address": reply.address,
        }
    return entry | more


def _judged(reply: HttpReply, delivery: dict[str, Any], url: str) -> None:
    """Raise unless the answer is a success: what kind of failure it is, and whether it is worth
    another try."""
    status = reply.status
    if 200 <= status < 300:
        return
    said = excerpt(reply.body.decode("utf-8", "replace").strip())[0]
    reason = f"{url} answered {status}" + (f": {said}" if said else "")
    if status in _NOT_TAKEN:
        raise NotPerformed(reason, failure=_NOT_TAKEN[status], retry_after=retry_after(reply), delivery=delivery)
    if status >= 500:
        raise AmbiguousCall(reason, failure="server_error", retry_after=retry_after(reply), delivery=delivery)
    if 300 <= status < 400:
        reason += " (redirects are not followed: give the final address)"
    raise NotPerformed(reason, delivery=delivery)


def _picked(body: bytes, save: SaveResponse | None) -> dict[str, Any]:
    """The values ``save`` asks for, by path, as ``to_json`` records them; missing ones left out."""
    if save is None or not save.values:
        return {}
    try:
        document = json.loads(body, parse_float=Decimal)
    except ValueError:
        return {}
    found = {}
    for path in save.values:
        value: Any = document
        for part in path.split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                break
        else:
            if not isinstance(value, dict | list):
                found[path] = to_json(value)
    return found


def _save(action: HttpRequest, ctx: ActionContext, status: int, picked: dict[str, Any]) -> dict[str, Any]:
    """Put the answer's status and picked values where ``save_response`` says; what was saved,
    what the answer lacked, and the process variables set."""
    save = action.save_response
    if save is None:
        return {}
    chosen: list[tuple[str, SaveTarget, Any]] = []
    if save.status is not None:
        chosen.append(("status", save.status, status))
    chosen += [(path, target, from_json(picked[path])) for path, target in save.values.items() if path in picked]
    fields = {t.field: v for _, t, v in chosen if t.field is not None}
    variables = {t.var: v for _, t, v in chosen if t.var is not None}
    values = {name: coerce(name, value, ctx.fields.get(name), ctx.tenant) for name, value in fields.items()}
    if values:
        # Keyed apart from the request: a retried step saves once, and never sends again.
        key = f"{ctx.effect_key}:saved"
        change = partial(with_values, values=values)
        ctx.deal, _ = ctx.services.deals.apply(ctx.tenant.id, ctx.deal.id, change, ctx.causation, key)
    saved: dict[str, Any] = {"saved": {where: str(value) for where, _, value in chosen}}
    missing = [path for path in save.values if path not in picked]
    if missing:
        saved["missing"] = missing
    if variables:
        saved["variables"] = to_json(variables)
    return saved


def http_request(action: HttpRequest, ctx: ActionContext) -> dict[str, Any]:
    shown = shown_request(action, ctx)
    if ctx.services.dry_run:  # test mode: what would go out, secrets unread and masked
        return {"request": shown, "would_send": True}
    sender = ctx.services.http
    if sender is None:
        raise ActionError("this stack sends no HTTP requests (the runner's HttpSender is not configured)")
    signing, secret_values = _secrets(action, ctx)
    tried: list[dict[str, Any]] = []  # this try's delivery, also when the ledger holds its outcome

    def send() -> dict[str, Any]:
        request = _request(action, ctx, signing, secret_values)
        try:
            reply = sender.send(request)
        except CallFailed as exc:
            exc.delivery = _delivery(ctx, request, None, **(exc.delivery or {}), error=str(exc))
            tried.append(exc.delivery)
            raise
        delivery = _delivery(ctx, request, reply)
        tried.append(delivery)
        _judged(reply, delivery, request.url)
        # Kept as one text: the ledger stores it as it came, numbers and all.
        return {
            "answer": json.dumps(
                {"status": reply.status, "delivery": delivery, "picked": _picked(reply.body, action.save_response)}
            )
        }

    try:
        outcome = ctx.services.ledger.once(
            ctx.tenant.id, ctx.effect_key, send, action.ambiguous or AMBIGUOUS_DEFAULTS["http_request"]
        )
    except NotPerformed as exc:
        if exc.failure is None:  # refused for good (a 4xx, an address the guard refused)
            raise ActionError(str(exc), detail={"delivery": exc.delivery} if exc.delivery else None) from None
        raise
    if "answer" not in outcome:  # held: unconfirmed, the try that left it so in the delivery log
        return {"request": shown, **outcome, **({"deliveries": tried} if tried else {})}
    answer = json.loads(outcome["answer"])
    result = {"request": shown, "status": answer["status"], "delivery": answer["delivery"]}
    result |= _save(action, ctx, answer["status"], answer["picked"])
    return result | {"duplicate": bool(outcome.get("duplicate"))}
