"""The OpenAPI document is generated from the code, served by the API, and committed. (The sample
events in events/ are driven through the handler in test_sample_events.py.)"""

from __future__ import annotations

import json
from pathlib import Path

from dealflow.api.openapi import document, render
from dealflow.local import MotoStack

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_openapi_document_matches_the_code() -> None:
    committed = json.loads((REPO / "openapi.json").read_text())
    assert committed == document(), (
        "openapi.json is out of date with the API's code; regenerate it from the repository root with\n"
        "    PYTHONPATH=layers/shared/python python -m dealflow.api.openapi > openapi.json"
    )
    assert (REPO / "openapi.json").read_text() == render()


def test_the_document_covers_every_resource_and_uses_the_domain_models() -> None:
    doc = document()
    assert set(doc["paths"]) >= {
        "/pipelines",
        "/pipelines/{pipeline_id}",
        "/fields",
        "/fields/{code}",
        "/automation",
        "/automation/{automation_id}",
        "/automation/{automation_id}/enable",
        "/automation/{automation_id}/disable",
        "/automation/{automation_id}/test",
        "/automation/{automation_id}/runs",
        "/deals",
        "/deals/{deal_id}",
        "/deals/{deal_id}/move",
        "/deals/{deal_id}/runs",
    }
    body = doc["paths"]["/automation/{automation_id}"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "kind"
    assert set(body["discriminator"]["mapping"]) == {"rule", "tunnel", "trigger", "business_process"}
    assert doc["components"]["securitySchemes"]["jwt"]["scheme"] == "bearer"


def test_the_api_serves_the_same_document(stack: MotoStack) -> None:
    status, served = stack.api("GET", "/openapi.json")
    assert status == 200 and served["paths"] == document()["paths"]


def test_the_document_is_valid_openapi() -> None:
    from openapi_spec_validator import validate

    validate(document())


def _schema_of(doc: dict, method: str, path: str, status: int) -> dict:
    responses = doc["paths"][path][method.lower()]["responses"]
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    return {**schema, "components": doc["components"]}


def test_real_answers_match_the_document(stack: MotoStack) -> None:
    """Success and error bodies as the API sends them, checked against the schemas it publishes."""
    from jsonschema import Draft202012Validator

    doc = document()
    admin = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}
    rep = {**admin, "sub": "u-anna", "custom:role": "sales_rep"}
    deal = {"id": "d-9", "pipeline_id": "sales", "stage_id": "new", "title": "Checked", "amount": "12.30"}
    calls = [
        ("GET", "/automation", "/automation", None, rep, 200),
        ("GET", "/automation/lost-email", "/automation/{automation_id}", None, rep, 200),
        ("GET", "/automation/nope", "/automation/{automation_id}", None, rep, 404),
        ("PUT", "/automation/lost-email", "/automation/{automation_id}", {"kind": "rule"}, rep, 403),
        ("PUT", "/automation/x", "/automation/{automation_id}", {"kind": "rule", "id": "x"}, admin, 422),
        ("PUT", "/automation/x", "/automation/{automation_id}", "{", admin, 400),
        ("GET", "/pipelines", "/pipelines", None, rep, 200),
        ("GET", "/fields", "/fields", None, None, 401),
        ("POST", "/deals", "/deals", deal, rep, 201),
        ("POST", "/deals/d-9/move", "/deals/{deal_id}/move", {"stage_id": "won"}, rep, 200),
        ("GET", "/deals", "/deals", None, rep, 200),
        ("GET", "/rights", "/rights", None, admin, 200),
        ("PUT", "/rights/sales_rep", "/rights/{role}", {"deals": {"fields": {"amount": "hidden"}}}, admin, 200),
        ("GET", "/deals/d-9", "/deals/{deal_id}", None, rep, 200),
        ("PATCH", "/deals/d-9", "/deals/{deal_id}", {"version": 1}, rep, 409),
        ("POST", "/automation/lost-email/test", "/automation/{automation_id}/test", {"deal_id": "d-9"}, admin, 200),
        ("POST", "/automation/lost-email/disable", "/automation/{automation_id}/disable", None, admin, 200),
    ]
    for method, path, template, body, claims, expected in calls:
        status, reply = stack.api(method, path, body, claims=claims)
        assert status == expected, (method, path, reply)
        stack.drain()
        errors = list(Draft202012Validator(_schema_of(doc, method, template, status)).iter_errors(reply))
        assert not errors, (method, path, status, [e.message for e in errors])


def test_the_document_states_what_the_api_checks() -> None:
    """Path patterns, either/or bodies, the YAML the transfer routes serve and take, every 4xx
    shape on every operation, and links from what is created to what can be done with it."""
    doc = document()
    paths = doc["paths"]
    name = paths["/constants/{name}"]["put"]["parameters"][0]["schema"]
    assert name["pattern"] == "^[a-z][a-z0-9_]{0,63}$" and name["maxLength"] == 64
    deal_id = paths["/deals/{deal_id}"]["get"]["parameters"][0]["schema"]
    assert deal_id["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
    schemas = doc["components"]["schemas"]
    assert [b["required"] for b in schemas["DryRunRequest"]["oneOf"]] == [["deal_id"], ["deal"]]
    assert [b["required"] for b in schemas["BulkRequest"]["oneOf"]] == [["ids"], ["select"]]
    assert schemas["BulkRequest"]["then"]["required"] == ["target"]
    assert "application/yaml" in paths["/export"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "application/yaml", "text/yaml"} <= set(
        paths["/import"]["post"]["requestBody"]["content"]
    )
    for path, operations in paths.items():
        for method, operation in operations.items():
            answers = operation["responses"]
            assert {"400", "401", "403", "404", "409", "413", "422"} <= set(answers), (method, path)
            assert answers["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/HTTPValidationError")
    links = paths["/deals"]["post"]["responses"]["201"]["links"]
    assert links["GetDeal"] == {
        "operationId": paths["/deals/{deal_id}"]["get"]["operationId"],
        "parameters": {"deal_id": "$response.body#/id"},
    }
    amount = schemas["NewDeal"]["properties"]["amount"]["anyOf"]
    assert {"type": "number", "minimum": 1e-130, "maximum": 9.9e125} in amount
