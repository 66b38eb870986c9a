"""The management API behind API Gateway: pipelines, fields, deals and every kind of automation,
per tenant and role. ``resolver.build_resolver`` wires the routers (one module per resource, listed
with their routes in ``routes.ROUTES`` and imported with the first request that needs each) to
``deps.Deps``; ``functions/api/app.py`` is the Lambda entry point and builds the deps' services
with the first request that uses each."""
