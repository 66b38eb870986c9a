"""Every route of the management API, by the router module (``dealflow.api.<module>``) that serves
it, in the order the resolver registers them. A request imports the router of the route it
matches, with the first request that matches one of its routes (once per container), so the
API's cold start loads none of the routers' models, stores or templates, and a request loads its
own router's. ``tests/unit/test_cold_imports.py`` checks this table against the routers: a route
declared in a router and missing here fails that test, it is not silently unreachable."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from re import Pattern
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver, Route

    from dealflow.api.context import DepsProvider

# module → "METHOD rule" of each of its routes, as the router declares them (powertools' <name>).
ROUTES: dict[str, tuple[str, ...]] = {
    "pipelines": (
        "GET /pipelines",
        "GET /pipelines/<pipeline_id>",
        "PUT /pipelines/<pipeline_id>",
        "DELETE /pipelines/<pipeline_id>",
    ),
    "fields": ("GET /fields", "PUT /fields/<code>", "DELETE /fields/<code>"),
    "automation": (
        "GET /automation",
        "GET /automation/<automation_id>",
        "PUT /automation/<automation_id>",
        "DELETE /automation/<automation_id>",
        "POST /automation/<automation_id>/enable",
        "POST /automation/<automation_id>/disable",
        "POST /automation/<automation_id>/test",
        "GET /automation/<automation_id>/runs",
    ),
    "automation_moves": (
        "POST /automation/<automation_id>/copy",
        "POST /automation/<automation_id>/move",
        "POST /automation/bulk",
    ),
    "deals": (
        "POST /deals",
        "GET /deals/<deal_id>",
        "PATCH /deals/<deal_id>",
        "POST /deals/<deal_id>/move",
        "GET /deals/<deal_id>/runs",
    ),
    "deal_lists": ("GET /deals",),
    "manual_runs": ("POST /deals/<deal_id>/runs",),
    "steps": ("POST /deals/<deal_id>/steps/<step_id>",),
    "workflows": (
        "GET /field-step-workflows",
        "GET /field-step-workflows/<workflow_id>",
        "PUT /field-step-workflows/<workflow_id>",
        "DELETE /field-step-workflows/<workflow_id>",
        "POST /field-step-workflows/<workflow_id>/enable",
        "POST /field-step-workflows/<workflow_id>/disable",
    ),
    "rights": ("GET /rights", "PUT /rights/<role>"),
    "warnings": ("GET /warnings",),
    "usage": ("GET /usage",),
    "values": (
        "GET /constants",
        "GET /constants/<name>",
        "PUT /constants/<name>",
        "DELETE /constants/<name>",
        "GET /variables",
        "GET /variables/<name>",
        "PUT /variables/<name>",
        "DELETE /variables/<name>",
    ),
    "runs": ("GET /runs", "GET /runs/<run_id>"),
    "cancellations": ("GET /cancellations/<job_id>",),
    "run_actions": (
        "POST /runs/<run_id>/retry",
        "POST /runs/retry",
        "POST /runs/<run_id>/cancel",
        "POST /runs/<run_id>/resume",
    ),
    "transfer": ("GET /export", "POST /import"),
    "console": ("GET /console/map",),
    "versions": (
        "GET /automation/<automation_id>/versions",
        "GET /automation/<automation_id>/versions/<version>",
        "GET /automation/<automation_id>/diff",
        "POST /automation/<automation_id>/rollback",
        "GET /pipelines/<pipeline_id>/versions",
        "GET /pipelines/<pipeline_id>/versions/<version>",
        "GET /pipelines/<pipeline_id>/diff",
        "POST /pipelines/<pipeline_id>/rollback",
        "GET /fields/<code>/versions",
        "GET /fields/<code>/versions/<version>",
        "GET /fields/<code>/diff",
        "POST /fields/<code>/rollback",
        "GET /constants/<name>/versions",
        "GET /constants/<name>/versions/<version>",
        "GET /constants/<name>/diff",
        "POST /constants/<name>/rollback",
    ),
    "drafts": (
        "GET /automation/<automation_id>/draft",
        "PUT /automation/<automation_id>/draft",
        "DELETE /automation/<automation_id>/draft",
        "POST /automation/<automation_id>/draft/test",
        "POST /automation/<automation_id>/publish",
    ),
    "saved_tests": (
        "GET /automation/<automation_id>/tests",
        "GET /automation/<automation_id>/tests/<test_id>",
        "PUT /automation/<automation_id>/tests/<test_id>",
        "DELETE /automation/<automation_id>/tests/<test_id>",
        "POST /automation/<automation_id>/tests/run",
    ),
    "calendars": (
        "GET /calendar",
        "PUT /calendar",
        "DELETE /calendar",
        "GET /users/<user_id>/calendar",
        "PUT /users/<user_id>/calendar",
        "DELETE /users/<user_id>/calendar",
    ),
    "what_if": ("POST /automation/<automation_id>/what-if",),
}


class Routers:
    """The routers of ``ROUTES``, each included into ``app`` when a request first needs it. The
    resolver matches as powertools does (the method, then static rules before rules with
    parameters, each in registration order): its routes are kept in this table's order, so a
    request matches the route it would match were every router included."""

    def __init__(self, app: ApiGatewayResolver, deps: DepsProvider, compile_rule: Callable[[str], Pattern[str]]):
        self._app, self._deps = app, deps
        self._loaded: set[str] = set()
        self._position: dict[str, int] = {}
        # (method, is static, compiled rule, module), in the order powertools would try them
        table: list[tuple[str, bool, Pattern[str], str]] = []
        for module, routes in ROUTES.items():
            for route in routes:
                method, rule = route.split(" ", 1)
                self._position[route] = len(self._position)
                compiled = compile_rule(rule)
                table.append((method, compiled.groups == 0, compiled, module))
        self._table = sorted(table, key=lambda entry: not entry[1])  # stable: static first, in order

    @property
    def loaded(self) -> frozenset[str]:
        return frozenset(self._loaded)

    def module_for(self, method: str, path: str) -> str | None:
        """The router module whose route ``method path`` matches; None: no route does (a 404)."""
        return next((m for verb, _, rule, m in self._table if verb == method and rule.match(path)), None)

    def load_for(self, method: str, path: str) -> None:
        module = self.module_for(method, path)
        if module is not None:
            self.load(module)

    def load_every(self) -> None:
        """Every router (the OpenAPI document and Swagger UI describe them all)."""
        for module in ROUTES:
            self.load(module)

    def load(self, module: str) -> None:
        if module in self._loaded:
            return
        self._app.include_router(import_module(f"dealflow.api.{module}").router(self._deps))
        self._loaded.add(module)
        last = len(self._position)  # routes outside the table (the documents) after every router's

        def position(route: Route) -> int:
            return self._position.get(f"{route.method} {route.path}", last)

        # powertools tries its routes in list order; these lists are its own, kept in table order.
        app: Any = self._app
        app._static_routes.sort(key=position)
        app._dynamic_routes.sort(key=position)
