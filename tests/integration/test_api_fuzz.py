"""schemathesis against the committed OpenAPI document, over HTTP to the local server: for every
operation in the document, generated requests (valid ones and broken ones) as acme's administrator
and as a sales rep never get a 5xx, never a status the document does not list and never a body
that breaks the document's schema. Every operation is covered, including routes added later.

Deterministic: hypothesis is derandomized (a fixed seed from each test's name) with a bounded
number of examples and no deadline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from dealflow.local import MotoStack
from dealflow.local.demo import TENANT, set_up, set_up_process_tenant
from dealflow.local.server import LocalApi
from dealflow.local.tokens import caller_token

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"
SCHEMA = schemathesis.openapi.from_dict(json.loads(COMMITTED.read_text()))
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CALLERS = {"admin": caller_token(TENANT, "u-admin", "admin"), "sales_rep": caller_token(TENANT, "u-anna", "sales_rep")}
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
# Per operation and caller: enough to reach every body field and error path, few enough that the
# whole file stays well under two minutes on a slow machine.
EXAMPLES = 12


@pytest.fixture(scope="module")
def server() -> Iterator[LocalApi]:
    # Automation is not run after each change: the fuzzer checks the API's answers, and deals it
    # writes would only start runs nobody looks at.
    with MotoStack() as stack:
        set_up(stack)
        set_up_process_tenant(stack)
        with LocalApi(stack, port=0, run_automation=False) as api:
            yield api


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


@pytest.mark.parametrize("role", sorted(CALLERS))
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_server_errors_and_answers_match_the_document(
    server: LocalApi, session: requests.Session, operation: schemathesis.APIOperation, role: str
) -> None:
    headers = {"Authorization": f"Bearer {CALLERS[role]}"}
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=server.url, session=session, headers=headers, timeout=60)
        case.validate_response(response, checks=CHECKS, headers=headers)

    check()
