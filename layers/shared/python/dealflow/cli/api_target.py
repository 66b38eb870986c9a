"""Where the automation-as-code commands and ``dealflow map`` act: the management API of a tenant,
as its administrators reach it — a deployed stack's API Gateway URL with a JWT from the tenant's
identity provider, or the local API server (``python -m dealflow.local api``) with a token
``python -m dealflow.local token acme u-admin admin`` prints. Unlike the operators' commands, these
need no AWS credentials: the token says which tenant, and the API checks it as for any caller."""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from dealflow.authoring.document_text import from_json, to_json
from dealflow.cli.errors import CliError

URL_VARIABLE, TOKEN_VARIABLE = "DEALFLOW_API_URL", "DEALFLOW_TOKEN"
TIMEOUT = 120.0  # seconds; an import of many definitions is one transaction, answered at once


class ApiRefused(CliError):
    """The API answered 4xx or 5xx: its status and its JSON error body."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        self.status, self.body = status, body if isinstance(body, dict) else {"reason": str(body)}
        reason = self.body.get("reason") or self.body.get("error") or "refused"
        super().__init__(f"{method} {path} answered {status}: {reason}")

    @property
    def problems(self) -> list[dict[str, str]]:
        return [p for p in self.body.get("problems") or [] if isinstance(p, dict)]

    @property
    def no_route(self) -> bool:
        """The API does not have the route at all (an older deployment), rather than the thing named."""
        return self.status == 404 and str(self.body.get("reason", "")).startswith("no route")


@dataclass(frozen=True)
class ApiTarget:
    url: str
    token: str

    @property
    def where(self) -> str:
        return f"the API at {self.url}"

    def call(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[str, bytes]:
        """(content type, body) of a 2xx answer; ApiRefused for any other."""
        target = self.url + path + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else to_json(body).encode()
        request = urllib.request.Request(target, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                answer: Any = json.loads(raw)
            except ValueError:
                answer = raw.decode(errors="replace")[:500]
            raise ApiRefused(method, path, error.code, answer) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise CliError(f"cannot reach {self.where}: {exc}") from exc

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """A 2xx JSON answer, decimals exact."""
        _, raw = self.call(method, path, **kwargs)
        return from_json(raw.decode()) if raw else None

    def text(self, path: str, query: dict[str, str] | None = None) -> str:
        return self.call("GET", path, query=query)[1].decode()


def api_options() -> argparse.ArgumentParser:
    """The options of the commands that talk to a tenant's management API."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("where (the tenant's management API)")
    group.add_argument(
        "--api",
        metavar="URL",
        help=f"the API's base URL, e.g. http://127.0.0.1:8000 or https://ID.execute-api.REGION.amazonaws.com "
        f"(default: ${URL_VARIABLE})",
    )
    group.add_argument(
        "--token",
        help=f"a JWT of one of the tenant's administrators; the tenant is the token's (default: ${TOKEN_VARIABLE})",
    )
    return parent


def api_target_of(args: argparse.Namespace) -> ApiTarget:
    url = args.api or os.environ.get(URL_VARIABLE)
    token = args.token or os.environ.get(TOKEN_VARIABLE)
    if not url:
        raise CliError(f"say which API: --api URL (or set {URL_VARIABLE})")
    if not url.startswith(("http://", "https://")):
        raise CliError(f"--api {url}: expected an http:// or https:// URL")
    if not token:
        raise CliError(f"say who you are: --token JWT (or set {TOKEN_VARIABLE})")
    return ApiTarget(url=url.rstrip("/"), token=token.strip())
