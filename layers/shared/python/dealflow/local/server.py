"""The management API over HTTP on 127.0.0.1, for trying it with curl and Swagger UI.

    python -m dealflow.local api [--port 8000] [--server]

The server stands in for API Gateway: each HTTP request becomes an HTTP API (payload 2.0) event
for the very handler deployed to Lambda, and the bearer token's claims become the JWT
authorizer's context. ``POST /webhooks/{tenant_id}`` goes to the webhooks handler instead, as the
second API (``WebhooksUrl``) does on AWS: no token, the HMAC signature is the authentication.
LOCAL ONLY: tokens are not verified (see ``dealflow.local.tokens``), so it binds to the loopback
address and nothing else.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from dealflow.local.http_tools import http_api_event
from dealflow.local.seed import SAMPLE_WEBHOOK_SECRET, sample_deals
from dealflow.local.stack import MotoStack
from dealflow.local.tokens import caller_token, claims_from_authorization

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
# API Gateway refuses bodies over 10 MB before any Lambda runs.
MAX_REQUEST = 10 * 1024 * 1024
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The webhooks API's one route (template.yaml's WebhooksFunction event).
_WEBHOOK = re.compile(r"/webhooks/(?P<tenant_id>[^/]+)")


def _query(raw: str) -> dict[str, str]:
    """Query parameters as API Gateway passes them: a repeated name's values joined by commas."""
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    return query


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST:
            self._send(
                413,
                {"Content-Type": "application/json"},
                b'{"error": "payload_too_large", "reason": "the body is over 10 MB"}',
                close=True,
            )
            return
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        headers = {name: value for name, value in self.headers.items() if name.lower() != "authorization"}
        claims = claims_from_authorization(self.headers.get("Authorization"))
        if claims is not None:
            # The authorizer lets the header through to the function too; keep it for the handler.
            headers["authorization"] = self.headers["Authorization"]
        # API Gateway decodes a percent-encoded path before the handler sees it (rawPath and the path
        # parameters alike): /constants/tax%5Frate is the constant tax_rate.
        path = unquote(url.path) or "/"
        response = self.server.api.call(self.command, path, url.query, headers, body, claims)
        raw = (response.get("body") or "").encode()
        if response.get("isBase64Encoded"):
            raw = base64.b64decode(raw)
        self._send(int(response.get("statusCode", 200)), response.get("headers") or {}, raw)

    def _send(self, status: int, headers: dict[str, Any], body: bytes, *, close: bool = False) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines go to logging, not stderr: the banner stays readable.
        logger.info("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: LocalApi


class LocalApi:
    """The management API handler of ``stack`` served over HTTP on 127.0.0.1 (``port`` 0: any free
    port). With ``run_automation``, every change is followed by ``stack.drain()``, so rules,
    tunnels and triggers react as they would on AWS moments later."""

    def __init__(self, stack: MotoStack, port: int = 8000, *, run_automation: bool = True) -> None:
        self.stack, self.run_automation = stack, run_automation
        # One request at a time reaches the handler: a Lambda container serves one event at a
        # time, and the resolver keeps the current event in shared state.
        self._lock = threading.Lock()
        self._httpd = _Server((HOST, port), _Handler)
        self._httpd.api = self
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def call(
        self,
        method: str,
        path: str,
        raw_query: str,
        headers: dict[str, str],
        body: bytes,
        claims: dict[str, str] | None,
    ) -> dict[str, Any]:
        """One HTTP request through the handler, as API Gateway with its JWT authorizer would; a
        webhook through the webhooks handler, as the webhooks API would."""
        webhook = _WEBHOOK.fullmatch(path) if method == "POST" else None
        with self._lock:
            if webhook is not None:
                tenant_id = unquote(webhook["tenant_id"])
                event = http_api_event(
                    method,
                    path,
                    "POST /webhooks/{tenant_id}",
                    headers,
                    body,
                    self.stack.clock.now(),
                    path_parameters={"tenant_id": tenant_id},
                )
                return self._settled(method, path, self.stack.call_webhooks(event))
            event = http_api_event(
                method,
                path,
                "ANY /{proxy+}",
                headers,
                body,
                self.stack.clock.now(),
                path_parameters={"proxy": path.lstrip("/")},
                claims=claims,
                query=_query(raw_query),
            )
            event["rawQueryString"] = raw_query
            return self._settled(method, path, self.stack.call_api(event))

    def _settled(self, method: str, path: str, response: dict[str, Any]) -> dict[str, Any]:
        """``response``, after the automation the change set off has run (with ``run_automation``)."""
        if self.run_automation and method in _CHANGES and response.get("statusCode", 500) < 300:
            try:
                self.stack.drain()
            except Exception:
                # The change is stored and answered; its automation failing is the run log's
                # business on AWS too, not the caller's.
                logger.exception("automation after %s %s failed", method, path)
        return response

    def start(self) -> Self:
        """Serve in a background thread (for tests); ``serve_forever`` serves in this one."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="dealflow-local-api", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


# Users of the demo tenants (dealflow.local.demo): acme's rules, and globex running a business process.
DEMO_CALLERS = {
    "acme administrator (u-admin)": ("acme", "u-admin", "admin"),
    "acme sales rep (u-anna)": ("acme", "u-anna", "sales_rep"),
    "globex administrator (u-admin)": ("globex", "u-admin", "admin"),
    "globex sales rep (u-anna)": ("globex", "u-anna", "sales_rep"),
}


def set_up_served(stack: MotoStack) -> None:
    """What ``python -m dealflow.local api`` serves: the demo tenants acme and globex, acme's deals
    that events/ and README name (deal-1001 won, deal-1002 new, deal-1003 in negotiation) and acme's
    webhook secret (``SAMPLE_WEBHOOK_SECRET``, the one ``seed`` stores too)."""
    from dealflow.local.demo import set_up, set_up_process_tenant

    set_up(stack)
    set_up_process_tenant(stack)
    for deal in sample_deals():
        stack.create_deal(deal)
    stack.drain()
    stack.set_webhook_secret("acme", SAMPLE_WEBHOOK_SECRET)


def banner(url: str) -> str:
    """What a person needs to start: tokens, the webhook secret, Swagger UI and two curl calls."""
    tokens = {who: caller_token(*claims) for who, claims in DEMO_CALLERS.items()}
    admin = tokens["acme administrator (u-admin)"]
    lines = [
        f"Dealflow management API on {url} (local only: tokens are NOT verified; Ctrl-C stops it)",
        "",
        "Bearer tokens (unsigned, local only):",
    ]
    for who, token in tokens.items():
        lines += [f"  {who}:", f"    {token}"]
    lines += [
        "",
        f"Swagger UI: {url}/swagger  (Authorize: paste a token above)",
        f"OpenAPI document: {url}/openapi.json",
        f"Signed webhooks: POST {url}/webhooks/acme, acme's secret: {SAMPLE_WEBHOOK_SECRET}",
        "",
        "Try:",
        f'  curl -s {url}/pipelines -H "Authorization: Bearer {admin}"',
        f"  curl -s -X POST {url}/deals -H \"Authorization: Bearer {admin}\" -H 'Content-Type: application/json' "
        '-d \'{"pipeline_id": "sales", "stage_id": "new", "title": "Cloud migration", '
        '"amount": "24000.00", "currency": "EUR", "fields": {"what_we_sell": "services"}}\'',
    ]
    return "\n".join(lines)


def main(port: int = 8000, endpoint: str | None = None, server: bool = False) -> None:
    # A moto server logs every AWS call through werkzeug; the banner and the answers matter here.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with MotoStack(endpoint=endpoint, server=server) as stack:
        set_up_served(stack)
        api = LocalApi(stack, port)
        print(banner(api.url), flush=True)
        try:
            api.serve_forever()
        except KeyboardInterrupt:
            print("\nstopped")
        finally:
            api.close()
