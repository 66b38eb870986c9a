"""schemathesis against the committed OpenAPI document, over HTTP to the local server, in two phases
for every operation, as acme's administrator and as a sales rep:

- positive (both callers): requests valid by the document never get a 5xx, a status the document
  does not list, a body that breaks the document's schema — and are never refused for a reason the
  document could have stated (a 400, or a 422 naming a type, a pattern, a length or a bound): a
  refusal like that means the document lies about what the API takes;
- negative (the administrator, whom no route refuses before reading the request): requests the
  document rules out get a documented 4xx, never a 5xx.

A stateful run then follows the document's links (a deal created, then read, changed and moved; a
constant written, then read and deleted; automation stored, then read and switched off).

Deterministic: hypothesis is derandomized (a fixed seed from each test's name) with a bounded
number of examples and no deadline. Every operation is covered, including routes added later."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import run_state_machine_as_test
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
MODES = {"positive": GenerationMode.POSITIVE, "negative": GenerationMode.NEGATIVE}
# Per operation, caller and phase: enough to reach every body field and error path, few enough
# that the whole file stays around a minute on two cores.
EXAMPLES = 5
STATEFUL_STEPS = 6
STATEFUL_EXAMPLES = 8

# What pydantic and our bounds say when a value breaks a rule a JSON schema can state: answered to a
# request the document calls valid, the document is wrong.
_SCHEMA_LEVEL = (
    "Input should",
    "String should",
    "Field required",
    "Extra inputs are not permitted",
    "List should",
    "Dictionary should",
    "Value should",
    "should have at",
    "Decimal input should",
    "Unable to",
    "digits; a number DynamoDB",
    "is out of range; a number DynamoDB",
    "is not an id",
    "is not a name",
    "is not a field code",
    "is not a run id",
)


def valid_requests_are_taken(ctx: Any, response: Any, case: schemathesis.Case) -> None:
    """A request valid by the document is not refused for a reason the document could have said."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    status = response.status_code
    if status == 400 and (response.json() or {}).get("error") != "bad_page_token":
        # A page token is valid only if this list gave it out (sealed with the deployment's key):
        # the document can say so, not what a forged one looks like.
        raise AssertionError(f"a request valid by the document was refused: 400 {response.text[:500]}")
    if status == 422:
        problems = (response.json() or {}).get("problems") or []
        stated = [p for p in problems if any(phrase in str(p.get("problem")) for phrase in _SCHEMA_LEVEL)]
        if stated:
            raise AssertionError(f"a request valid by the document was refused: 422 {stated}")


CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, valid_requests_are_taken]


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


_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=False,
    suppress_health_check=list(HealthCheck),
)


PHASES = [("admin", "negative"), ("admin", "positive"), ("sales_rep", "positive")]


@pytest.mark.parametrize(("role", "mode"), PHASES, ids=[f"{role}-{mode}" for role, mode in PHASES])
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_server_errors_and_answers_match_the_document(
    server: LocalApi, session: requests.Session, operation: schemathesis.APIOperation, role: str, mode: str
) -> None:
    headers = {"Authorization": f"Bearer {CALLERS[role]}"}

    @_SETTINGS
    @given(case=operation.as_strategy(MODES[mode]))
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=server.url, session=session, headers=headers, timeout=60)
        case.validate_response(response, checks=CHECKS, headers=headers)

    check()


def test_following_the_documents_links_finds_no_errors(server: LocalApi, session: requests.Session) -> None:
    headers = {"Authorization": f"Bearer {CALLERS['admin']}"}

    class Links(SCHEMA.as_state_machine()):  # type: ignore[misc]
        def call(self, case: schemathesis.Case, **kwargs: Any) -> Any:
            return case.call(base_url=server.url, session=session, headers=headers, timeout=60)

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, headers=headers)

    run_state_machine_as_test(
        Links,
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=True,
            deadline=None,
            database=None,
            print_blob=False,
            suppress_health_check=list(HealthCheck),
        ),
    )
