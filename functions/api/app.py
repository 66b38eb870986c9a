"""Lambda behind the management HTTP API (JWT authorizer): pipelines, custom fields, deals and
automation of every kind, per tenant and role. Routes, validation and errors: ``dealflow.api``.
Log lines carry the caller's tenant and user; business processes started by hand are counted in
``RunsStarted`` (function ``api``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from dealflow.ports import ChangeHistory, RunStarter
    from dealflow.store.deals import DealStore
    from dealflow.store.runs import RunLog

logger = Logger()
runtime.trace_aws_calls()  # before the clients below exist: every AWS call traced
METRICS = runtime.metrics("api")
_RUNNER = runtime.settings().runner_function


# Each service (and the AWS clients and models it brings) is built by the first request that uses
# it, once per container: a cold start builds none. The local harness swaps in its run starter.
def _starter() -> RunStarter:
    return CountedStarter(LambdaRunStarter(boto3.client("lambda"), _RUNNER), METRICS)


def _deals() -> DealStore:
    from dealflow.store.deals import DealStore

    return DealStore(runtime.tables().deals)


def _runs() -> RunLog:
    from dealflow.store.runs import RunLog

    return RunLog(runtime.tables().automation)


def _history() -> ChangeHistory:
    from dealflow.store.change_history import ChangeHistoryStore

    return ChangeHistoryStore(runtime.tables().automation)


_STARTER = runtime.Deferred(_starter).proxy() if _RUNNER else None
DEPS = Deps(
    automation=runtime.Deferred(runtime.automation_store).proxy(),
    deals=runtime.Deferred(_deals).proxy(),
    runs=runtime.Deferred(_runs).proxy(),
    starter=_STARTER,
    page_keys=runtime.Deferred(runtime.page_keys).proxy(),
    services=runtime.runner_services,
    cancellations=runtime.Deferred(lambda: runtime.cancellations(_STARTER)).proxy() if _STARTER else None,
    history=runtime.Deferred(_history).proxy(),
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
