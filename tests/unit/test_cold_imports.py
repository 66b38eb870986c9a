"""Each function's cold start imports only what every invocation uses: what one path needs (the
models, the stores, the reference checks with Jinja2, email-validator, a path's engine) loads with
the first invocation that takes it, not when Lambda imports the handler (bench/cold_start.py
measures what that saves)."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest

from bench import LAYER
from bench.cold_start import AWS_ENVIRONMENT
from bench.measure import REPO, function_environment
from dealflow.api.resolver import build_resolver
from dealflow.api.routes import ROUTES

# Loaded by the dispatcher's first batch, never by the import.
LATER = ("dealflow.model", "dealflow.store.automation", "dealflow.engine.references", "jinja2", "email_validator")
# What the other functions' paths load when first taken: pydantic and the models, the stores, the
# engine of their one path.
PATH_ONLY = ("pydantic", "dealflow.model", "dealflow.store", "jinja2", "email_validator")


def loaded_by_import(folder: str, logical_id: str) -> list[str]:
    """The modules a fresh interpreter holds after importing the function's ``app`` as Lambda does."""
    code = (
        f"import json, sys; sys.path[:0] = {[str(REPO / 'functions' / folder), LAYER]!r}; import app; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        **AWS_ENVIRONMENT,
        **function_environment(logical_id),
    }
    out = subprocess.run([sys.executable, "-I", "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_dispatcher_loads_no_models_stores_or_templates() -> None:
    loaded = loaded_by_import("dispatcher", "DispatcherFunction")

    assert "dealflow.engine.dispatch" in loaded and "boto3" in loaded  # the handler is really there
    assert [m for m in loaded if m.startswith(LATER)] == []


@pytest.mark.parametrize(
    ("folder", "logical_id", "later"),
    [
        ("run_reconciler", "RunReconcilerFunction", ("dealflow.engine.run_failures", "dealflow.engine.cancellation")),
        ("scheduler", "SchedulerFunction", ("dealflow.engine.timers", "dealflow.language.schedules", "zoneinfo")),
        ("webhooks", "WebhooksFunction", ("dealflow.webhooks", "dealflow.engine.waiting")),
    ],
)
def test_importing_a_function_loads_no_pydantic_models_or_stores(folder: str, logical_id: str, later: tuple) -> None:
    loaded = loaded_by_import(folder, logical_id)

    assert "dealflow.runtime" in loaded and "boto3" in loaded  # the handler is really there
    assert [m for m in loaded if m.startswith(PATH_ONLY + later)] == []


def clients_built_by_import(folder: str, logical_id: str) -> list[str]:
    """The AWS services a fresh interpreter built a boto3 client of while importing ``app``."""
    code = (
        f"import json, sys; sys.path[:0] = {[str(REPO / 'functions' / folder), LAYER]!r}; import boto3; "
        "boto3.setup_default_session(); built = []; "
        "boto3.DEFAULT_SESSION.events.register('creating-client-class', "
        "lambda event_name, **_: built.append(event_name.split('.', 1)[1])); "
        "import app; print(json.dumps(built))"
    )
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        **AWS_ENVIRONMENT,
        **function_environment(logical_id),
    }
    out = subprocess.run([sys.executable, "-I", "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_dispatcher_builds_no_aws_client() -> None:
    # Its Lambda client comes with the first run it starts, its DynamoDB clients with the first
    # record that reads automation or writes the log: a client built at import costs every cold
    # start ~60 ms of CPU and ~12 MB (botocore's endpoint and service models).
    assert clients_built_by_import("dispatcher", "DispatcherFunction") == []


def test_importing_the_runner_loads_the_durable_sdk_but_not_the_engine_models_or_templates() -> None:
    loaded = loaded_by_import("runner", "RunnerFunction")

    # The handler is really there: the SDK's decorator, the runtime, boto3.
    assert {"aws_durable_execution_sdk_python", "dealflow.runtime", "boto3"} <= set(loaded)
    # The engine of a run (the interpreter, its actions, the SES/SNS adapters) loads with the first run.
    later = ("dealflow.engine.interpreter", "dealflow.engine.actions", "dealflow.aws.adapters", "dealflow.language")
    assert [m for m in loaded if m.startswith(PATH_ONLY + later)] == []


# The management API: a request includes the router of the route it matches (``dealflow.api.routes``).
API_ROUTERS = tuple(f"dealflow.api.{module}" for module in ROUTES)
ADMIN = {"sub": "u-admin", "custom:tenant_id": "acme", "custom:role": "admin"}


def test_importing_the_api_loads_no_router_model_store_or_template() -> None:
    loaded = loaded_by_import("api", "ApiFunction")

    assert "dealflow.api.resolver" in loaded and "boto3" in loaded  # the handler is really there
    later = (
        *PATH_ONLY,
        *API_ROUTERS,
        "pydantic_core",
        "dealflow.api.openapi",  # the document and Swagger UI, with every router
        "dealflow.engine.compiled",
        "dealflow.engine.actions",
        "dealflow.authoring",
        "dealflow.policy",
        "yaml",
        "aws_lambda_powertools.event_handler.openapi.models",
        "aws_lambda_powertools.event_handler.middlewares.openapi_validation",
    )
    assert [m for m in loaded if any(m == name or m.startswith(name + ".") for name in later)] == []


def test_the_route_table_lists_what_each_router_declares_in_its_order() -> None:
    for module, routes in ROUTES.items():
        router = importlib.import_module(f"dealflow.api.{module}").router(lambda: None)
        declared = [f"{method.upper()} {key[0]}" for key in router._routes for method in _methods(key[1])]

        assert tuple(declared) == routes, module


def _methods(declared: str | tuple[str, ...]) -> tuple[str, ...]:
    return (declared,) if isinstance(declared, str) else tuple(declared)


def _request(method: str, path: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path},
            "stage": "$default",
            "authorizer": {"jwt": {"claims": ADMIN}},
        },
        "body": "{}" if method in ("POST", "PUT", "PATCH") else None,
        "isBase64Encoded": False,
    }


def _no_storage() -> Any:
    raise LookupError("no storage in this test")


@pytest.mark.parametrize(("module", "route"), [(m, r) for m, routes in ROUTES.items() for r in routes])
def test_every_route_of_the_table_reaches_its_router(module: str, route: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = build_resolver(_no_storage)
    matched: list[tuple[str, str, str]] = []
    call_route = app._call_route
    monkeypatch.setattr(
        app, "_call_route", lambda r, args: matched.append((r.method, r.path, r.func.__module__)) or call_route(r, args)
    )
    method, rule = route.split(" ", 1)
    path = re.sub(r"<[a-z_]+>", "x1", rule)

    answer = app.resolve(_request(method, path), None)

    assert matched == [(method, rule, f"dealflow.api.{module}")]
    assert app.routers.loaded == {module}  # that router alone
    assert json.loads(answer["body"]).get("reason") != f"no route {method} {path}"


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("PATCH", "/pipelines"), ("GET", "/deals/d1/nope")])
def test_a_path_no_route_takes_is_still_a_json_404_and_loads_no_router(method: str, path: str) -> None:
    app = build_resolver(_no_storage)

    answer = app.resolve(_request(method, path), None)

    assert answer["statusCode"] == 404
    assert json.loads(answer["body"]) == {"error": "not_found", "reason": f"no route {method} {path}"}
    assert app.routers.loaded == frozenset()
