"""The management API behind API Gateway: pipelines, fields, deals and every kind of automation,
per tenant and role. ``build_resolver`` wires the routers (one module per resource) to storage;
``functions/api/app.py`` is the Lambda entry point."""

from dealflow.api.deps import Deps
from dealflow.api.resolver import ApiResolver, build_resolver

__all__ = ["ApiResolver", "Deps", "build_resolver"]
