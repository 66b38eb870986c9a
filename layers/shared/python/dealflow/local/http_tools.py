"""MotoStack's HTTP front doors: the webhook receiver and the management API, called with API
Gateway HTTP API (payload 2.0) events as AWS would send them."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from dealflow import runtime

if TYPE_CHECKING:
    from types import ModuleType

    from dealflow.local.clock import ManualClock
    from dealflow.local.iam import IamContract, RunStarterCalls
    from dealflow.local.invoke import LocalRunStarter


def http_api_event(
    method: str,
    path: str,
    route_key: str,
    headers: dict[str, str],
    body: bytes,
    at: datetime,
    *,
    path_parameters: dict[str, str],
    claims: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API event (shaped as the files in events/): header names lowercased, repeated
    ones joined by commas; with ``claims``, the JWT authorizer's context."""
    lowered: dict[str, str] = {"host": "abc123.execute-api.eu-west-1.amazonaws.com", "user-agent": "dealflow-local"}
    if body:
        lowered["content-length"] = str(len(body))
    given: set[str] = set()
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in given else value
        given.add(key)
    context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "abc123",
        "domainName": lowered["host"],
        "domainPrefix": "abc123",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": lowered["user-agent"],
        },
        "requestId": uuid.uuid4().hex[:16],
        "routeKey": route_key,
        "stage": "$default",
        "time": at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(at.timestamp() * 1000),
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": lowered,
        "requestContext": context,
        "pathParameters": path_parameters,
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
    return event


def _reply(response: dict[str, Any]) -> tuple[int, Any]:
    text = response.get("body") or ""
    try:
        return response["statusCode"], json.loads(text) if text else None
    except json.JSONDecodeError:
        return response["statusCode"], text


class HttpTools:
    # MotoStack sets these when it starts; the API handler is loaded on the first call.
    clock: ManualClock
    runs_port: LocalRunStarter
    function_runs: RunStarterCalls
    iam: IamContract
    webhook_secrets: dict[str, str]
    _ssm: Any
    _webhooks_app: ModuleType
    _runner_app: ModuleType
    _api_app: ModuleType | None = None

    def set_webhook_secret(self, tenant_id: str, secret: str) -> None:
        """Store a tenant's webhook secret in SSM (SecureString), where the receiver reads it. One
        secret per line; two while rotating (post_webhook signs with the first). Takes effect at
        once here; on AWS, receivers see a new value within their 5-minute cache."""
        self._ssm.put_parameter(
            Name=runtime.webhook_secrets().name(tenant_id), Value=secret, Type="SecureString", Overwrite=True
        )
        self.webhook_secrets[tenant_id] = secret.splitlines()[0].strip()
        self._webhooks_app.RECEIVER.secrets.clear()

    def set_http_secret(self, tenant_id: str, value: str, name: str | None = None) -> None:
        """Store a tenant's HTTP secret header ``name`` (None: its outgoing signing secret) in SSM
        (SecureString), where the runner's http_request actions read it; takes effect at once."""
        from dealflow.aws.secrets import http_secret_name

        parameter = http_secret_name(runtime.settings().webhook_secret_prefix, tenant_id, name)
        self._ssm.put_parameter(Name=parameter, Value=value, Type="SecureString", Overwrite=True)
        self._runner_app.SERVICES.http_secrets.clear()

    def post_webhook(
        self,
        tenant_id: str,
        body: bytes | dict[str, Any],
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        headers: dict[str, str | None] | None = None,
        signed: bool = True,
    ) -> tuple[int, Any]:
        """POST a webhook to the deployed handler; returns (status, JSON body). Signed with
        ``secret`` (default: the tenant's, from set_webhook_secret) at ``timestamp`` (default: the
        stack's clock) unless ``signed`` is False; ``headers`` are added last (None removes one)."""
        from dealflow.webhooks import signed_headers

        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent: dict[str, str | None] = {"Content-Type": "application/json"}
        key = secret if secret is not None else self.webhook_secrets.get(tenant_id)
        if signed and key is not None:
            stamp = int(self.clock.now().timestamp()) if timestamp is None else timestamp
            sent.update(signed_headers(key, raw, timestamp=stamp))
        sent.update(headers or {})
        path = f"/webhooks/{tenant_id}"
        event = http_api_event(
            "POST",
            path,
            "POST /webhooks/{tenant_id}",
            {k: v for k, v in sent.items() if v is not None},
            raw,
            self.clock.now(),
            path_parameters={"tenant_id": tenant_id},
        )
        return _reply(self.call_webhooks(event))

    def call_webhooks(self, event: dict[str, Any]) -> dict[str, Any]:
        """Hand an HTTP API event to the deployed webhooks handler (the real receiver, with the
        stack's in-process run starter); returns its raw response. The local HTTP server's other door."""
        from dealflow.local.stack import LambdaContext

        response: dict[str, Any] = self._webhooks_app.handler(event, LambdaContext("WebhooksFunction"))
        return response

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        claims: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Call the management API handler as API Gateway would, after its JWT authorizer verified a
        token carrying ``claims`` (None: no authorizer context at all). ``body``: a dict or list is
        sent as JSON, str or bytes as they are (``headers`` can say what they are). Returns (status,
        JSON body, or the text when it is not JSON). The handler gets the stack's in-process run
        starter, so switching automation off stops its waiting runs."""
        return _reply(self.api_response(method, path, body, claims=claims, query=query, headers=headers))

    def api_response(
        self,
        method: str,
        path: str,
        body: Any = None,
        claims: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """As ``api``, but the handler's whole response (status, headers, body text)."""
        if body is None:
            raw = b""
        elif isinstance(body, bytes | str):
            raw = body.encode() if isinstance(body, str) else body
        else:
            raw = json.dumps(body).encode()
        sent = {"accept": "application/json"}
        if raw:
            sent["content-type"] = "application/json"
        if claims is not None:
            sent["authorization"] = "Bearer eyJ.local.token"
        sent.update({name.lower(): value for name, value in (headers or {}).items()})
        event = http_api_event(
            method.upper(),
            path,
            "ANY /{proxy+}",
            sent,
            raw,
            self.clock.now(),
            path_parameters={"proxy": path.lstrip("/")},
            claims=claims,
            query=query,
        )
        return self.call_api(event)

    def call_api(self, event: dict[str, Any]) -> dict[str, Any]:
        """Hand an HTTP API event to the deployed management API handler (loaded once, with the
        stack's in-process run starter); returns its raw response. The local HTTP server's door."""
        from dealflow.engine.signals import CountedStarter
        from dealflow.local.stack import LambdaContext, _load_handler, _swap_in

        app = self._api_app
        if app is None:
            app = self._api_app = _load_handler("api", self.iam)
            # Counted as functions/api/app.py counts its starts on AWS (RunsStarted, function "api").
            starter = CountedStarter(self.function_runs, app.METRICS)
            _swap_in(
                app,
                DEPS=replace(
                    app.DEPS,
                    starter=starter,
                    settle=self.runs_port.settle,
                    cancellations=runtime.cancellations(starter),
                ),
            )
        return app.handler(event, LambdaContext("ApiFunction"))
