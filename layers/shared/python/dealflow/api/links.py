"""OpenAPI links: what a client (and schemathesis' stateful phase) can do next with what an answer
gave it — read back the deal it created, the constant it wrote, the automation it stored."""

from __future__ import annotations

from typing import Any

# (method, path, status) of the answer → {link name: (method, path of the next call, its parameters)}
_LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, str]]]] = {
    ("post", "/deals", "201"): {
        "GetDeal": ("get", "/deals/{deal_id}", {"deal_id": "$response.body#/id"}),
        "UpdateDeal": ("patch", "/deals/{deal_id}", {"deal_id": "$response.body#/id"}),
        "MoveDeal": ("post", "/deals/{deal_id}/move", {"deal_id": "$response.body#/id"}),
        "DealRuns": ("get", "/deals/{deal_id}/runs", {"deal_id": "$response.body#/id"}),
    },
    **{
        ("put", f"/{kind}/{{name}}", status): {
            "Get": ("get", f"/{kind}/{{name}}", {"name": "$request.path.name"}),
            "Delete": ("delete", f"/{kind}/{{name}}", {"name": "$request.path.name"}),
        }
        for kind in ("constants", "variables")
        for status in ("200", "201")
    },
    **{
        ("put", "/automation/{automation_id}", status): {
            "Get": ("get", "/automation/{automation_id}", {"automation_id": "$response.body#/id"}),
            "Disable": ("post", "/automation/{automation_id}/disable", {"automation_id": "$response.body#/id"}),
            "Runs": ("get", "/automation/{automation_id}/runs", {"automation_id": "$response.body#/id"}),
        }
        for status in ("200", "201")
    },
    **{
        ("put", "/pipelines/{pipeline_id}", status): {
            "Get": ("get", "/pipelines/{pipeline_id}", {"pipeline_id": "$response.body#/id"}),
        }
        for status in ("200", "201")
    },
    **{
        ("put", "/fields/{code}", status): {
            "Delete": ("delete", "/fields/{code}", {"code": "$response.body#/code"}),
        }
        for status in ("200", "201")
    },
}


def document_links(document: dict[str, Any]) -> None:
    """Add the links to ``document`` wherever both ends are operations of it."""
    paths = document.get("paths", {})
    for (method, path, status), links in _LINKS.items():
        answer = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if answer is None:
            continue
        for name, (target_method, target_path, parameters) in links.items():
            target = paths.get(target_path, {}).get(target_method)
            if target is not None and "operationId" in target:
                answer.setdefault("links", {})[name] = {
                    "operationId": target["operationId"],
                    "parameters": dict(parameters),
                }
