"""The management API behind API Gateway: pipelines, fields, deals and every kind of automation,
per tenant and role. ``resolver.build_resolver`` wires the routers (one module per resource) to
``deps.Deps``; ``functions/api/app.py`` is the Lambda entry point and ``dealflow.runtime`` builds
the deps from the environment."""
