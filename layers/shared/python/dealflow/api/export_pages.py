"""An export too large for one response, in pages.

Lambda answers API Gateway with at most 6 MB (``limits.MAX_SYNC_RESPONSE_BYTES``), the body
escaped once more inside the response's JSON: a tenant with 1,000 rules of 7 KB e-mails exports
7.15 MiB. Such an export comes in pages of whole automation items; the first page also carries
the pipelines, fields, workflows and constants, the later ones empty sections, so concatenating
every page's lists (and merging the constants) gives the whole document. Each page but the last
carries ``next_token``, bound to the automation version of the first page: a change between pages
is a 409 (start again) rather than a document that never existed.

Paged rather than written to S3 behind a presigned URL: no bucket, lifecycle rule and IAM to
keep, nothing a leaked URL would hand out, the same token discipline as the lists, and the same
behaviour on moto as on AWS."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from dealflow.api.paging import seal, unseal
from dealflow.http_errors import Conflict, Invalid
from dealflow.limits import MAX_SYNC_RESPONSE_BYTES
from dealflow.ports import PageKeys

# Room for the response's envelope (status, headers, the body's quotes) around the body.
ENVELOPE_ALLOWANCE_BYTES = 64 * 1024
PAGE_BUDGET_BYTES = MAX_SYNC_RESPONSE_BYTES - ENVELOPE_ALLOWANCE_BYTES

Render = Callable[[Any], str]


def escaped_size(text: str) -> int:
    """Bytes ``text`` takes as the body of Lambda's response to API Gateway (a JSON string)."""
    return len(json.dumps(text).encode())


def _filters(format: str) -> dict[str, Any]:
    return {"list": "export", "format": format}


def _start(keys: PageKeys, token: str, tenant_id: str, format: str, version: int) -> int:
    after = str(unseal(keys, "export", tenant_id, _filters(format), token))
    made_at, _, index = after.partition("/")
    if not made_at.isdigit() or not index.isdigit():
        raise Invalid.field("next_token", "not a token this API gave out; start again without one")
    if int(made_at) != version:
        raise Conflict(
            "the tenant's automation changed since the export's first page; export again from the first page",
            field="next_token",
        )
    return int(index)


def export_page(
    document: dict[str, Any],
    *,
    tenant_id: str,
    version: int,
    format: str,
    render: Render,
    keys: PageKeys,
    token: str | None = None,
    budget: int = PAGE_BUDGET_BYTES,
) -> dict[str, Any]:
    """The page of ``document`` a request asks for (the whole document when it fits one response):
    as many automation items from the token's position as ``render`` keeps within ``budget``."""
    start = _start(keys, token, tenant_id, format, version) if token else 0
    automation: list[dict[str, Any]] = document["automation"]
    if start > len(automation):
        raise Invalid.field("next_token", "not a token this API gave out; start again without one")
    if start == 0 and escaped_size(render(document)) <= budget:
        return document
    page = {**document, "automation": []}
    if start > 0:  # later pages: the automation only
        page |= {"pipelines": [], "fields": [], "field_step_workflows": [], "constants": {}}
        page.pop("calendar", None)
    # Room for the token and the list's separators, then whole items while they fit.
    room = budget - escaped_size(render(page)) - 512
    end = start
    while end < len(automation):
        size = escaped_size(render([automation[end]]))  # as a list item: YAML indents it so
        if size > room and end > start:
            break
        room -= size
        end += 1
    page["automation"] = automation[start:end]
    if end < len(automation):
        page["next_token"] = seal(keys, "export", tenant_id, _filters(format), f"{version}/{end}")
    return page
