"""The management API behind API Gateway: pipelines, fields, deals and every kind of automation,
per tenant and role. ``build_resolver`` wires the routers (one module per resource) to storage;
``functions/api/app.py`` is the Lambda entry point."""

from typing import TYPE_CHECKING, Any

from dealflow.api.deps import Deps

if TYPE_CHECKING:
    from dealflow.api.resolver import ApiResolver, build_resolver


def __getattr__(name: str) -> Any:
    # The resolver imports every route module, and some of those import domain modules
    # (dealflow.moves, dealflow.transfer) that use dealflow.api.errors: loading the resolver only
    # when asked for keeps importing those domain modules first free of an import cycle.
    if name in ("ApiResolver", "build_resolver"):
        from dealflow.api import resolver

        return getattr(resolver, name)
    raise AttributeError(f"module 'dealflow.api' has no attribute '{name}'")


__all__ = ["ApiResolver", "Deps", "build_resolver"]
