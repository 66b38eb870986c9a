"""Lambda behind the management HTTP API (JWT authorizer): pipelines, custom fields, deals and
automation of every kind, per tenant and role. Routes, validation and errors: ``dealflow.api``.
Log lines carry the caller's tenant and user; business processes started by hand are counted in
``RunsStarted`` (function ``api``)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from dealflow import runtime
from dealflow.api.auth import TENANT_CLAIM, USER_CLAIM, claims_of
from dealflow.api.deps import Deps
from dealflow.api.resolver import build_resolver
from dealflow.aws.run_starter import LambdaRunStarter
from dealflow.engine.signals import CountedStarter
from dealflow.store.change_history import ChangeHistoryStore
from dealflow.store.deals import DealStore
from dealflow.store.runs import RunLog

logger = Logger()
runtime.trace_aws_calls()  # before the clients below exist: every AWS call traced
METRICS = runtime.metrics("api")
# Built once per container; the local harness swaps in one with its in-process run starter.
_TABLES, _RUNNER = runtime.tables(), runtime.settings().runner_function
_STARTER = CountedStarter(LambdaRunStarter(boto3.client("lambda"), _RUNNER), METRICS) if _RUNNER else None
DEPS = Deps(
    automation=runtime.automation_store(),
    deals=DealStore(_TABLES.deals),
    runs=RunLog(_TABLES.automation),
    starter=_STARTER,
    page_keys=runtime.page_keys(),
    services=runtime.runner_services,
    cancellations=runtime.cancellations(_STARTER) if _STARTER else None,
    history=ChangeHistoryStore(_TABLES.automation),
)
app = build_resolver(lambda: DEPS)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    claims = claims_of(event)  # as the authorizer verified them; the resolver refuses what is missing
    logger.append_keys(tenant_id=claims.get(TENANT_CLAIM), user_id=claims.get(USER_CLAIM))
    try:
        return app.resolve(event, context)
    finally:
        METRICS.flush()
