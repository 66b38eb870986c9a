"""The functions' configuration is one settings class (``dealflow.aws.settings``). template.yaml
gives every function what the model requires and names no variable the model does not read; each
function starts — its cold start builds every client and service it uses — with exactly the
environment the template gives it. (env.json is checked against the template in
tests/integration/test_sample_events.py.)"""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from dealflow import runtime
from dealflow.aws.secrets import DEFAULT_SECRET_PREFIX
from dealflow.aws.settings import InvalidSetting, MissingSetting, Settings
from dealflow.local.cfn_yaml import load_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(REPO / "template.yaml")
FUNCTIONS = sorted(k for k, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Serverless::Function")
READ = set(Settings.variables())
REQUIRED = {name for name, required in Settings.variables().items() if required}
# Read by boto3 and powertools themselves, not by our code.
LIBRARY_OWNED = ("AWS_", "POWERTOOLS_")
Deploy = Callable[[dict[str, str]], None]


def _environment(function: str) -> dict[str, str]:
    """The function's variables as deployed: the template's globals, then its own; a reference to
    another resource (``!Ref DealsTable``) stands in as a made-up name."""
    variables = {
        **TEMPLATE.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}),
        **TEMPLATE["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    return {
        name: value if isinstance(value, str) else f"made-up-{json.dumps(value)}" for name, value in variables.items()
    }


def _load_handler(function: str) -> ModuleType:
    path = REPO / TEMPLATE["Resources"][function]["Properties"]["CodeUri"] / "app.py"
    spec = importlib.util.spec_from_file_location(f"settings_test_{function}_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deploy]:
    """Give the process a function's environment (and nothing else of ours), as Lambda would."""

    def use(variables: dict[str, str]) -> None:
        for name in READ:
            monkeypatch.delenv(name, raising=False)
        for name, value in {
            "AWS_REGION": "eu-west-1",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            **variables,
        }.items():
            monkeypatch.setenv(name, value)
        runtime.reset()

    yield use
    runtime.reset()


def test_the_template_has_functions() -> None:
    assert {"ApiFunction", "DispatcherFunction", "RunnerFunction", "WebhooksFunction"} <= set(FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_sets_what_the_settings_model_requires(function: str) -> None:
    environment = _environment(function)
    assert not {name for name in REQUIRED if not environment.get(name)}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_variable_a_function_sets_is_one_the_settings_model_reads(function: str) -> None:
    ours = {name for name in _environment(function) if not name.startswith(LIBRARY_OWNED)}
    assert ours <= READ, f"{function} sets {sorted(ours - READ)}, which dealflow.aws.settings does not read"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_starts_with_the_environment_the_template_gives_it(function: str, deployed: Deploy) -> None:
    environment = _environment(function)
    deployed(environment)
    handler = _load_handler(function)
    if function == "ApiFunction":
        # Test mode builds the runner's services when it is first used: they too come from settings.
        handler.DEPS.services()
    if function == "RunnerFunction":
        # The runner builds its services with its first run (or when they are first read).
        assert handler.SERVICES.sender == environment["SENDER_EMAIL"]


def test_a_function_missing_a_variable_it_needs_fails_at_cold_start_naming_it(deployed: Deploy) -> None:
    environment = _environment("DispatcherFunction")
    del environment["RUNNER_FUNCTION"]
    deployed(environment)
    with pytest.raises(MissingSetting, match="RUNNER_FUNCTION"):
        _load_handler("DispatcherFunction")


def test_empty_variables_count_as_unset(deployed: Deploy) -> None:
    deployed({"AUTOMATION_TABLE": "automation", "SENDER_EMAIL": "", "WEBHOOK_SECRET_PREFIX": "", "DEALS_TABLE": ""})
    settings = runtime.settings()
    assert settings.sender_email is None
    assert settings.webhook_secret_prefix == DEFAULT_SECRET_PREFIX
    assert settings.not_started_sample_rate == 1.0
    with pytest.raises(MissingSetting, match="DEALS_TABLE"):
        runtime.tables()


@pytest.mark.parametrize("rate", ["1.5", "-0.1", "often"])
def test_a_sample_rate_outside_zero_to_one_is_refused(rate: str, deployed: Deploy) -> None:
    deployed({"AUTOMATION_TABLE": "automation", "NOT_STARTED_SAMPLE_RATE": rate})
    with pytest.raises(InvalidSetting, match="not_started_sample_rate"):
        runtime.settings()


@pytest.mark.parametrize("concurrency", ["0", "65", "many"])
def test_a_run_start_concurrency_outside_one_to_64_is_refused(concurrency: str, deployed: Deploy) -> None:
    deployed({"AUTOMATION_TABLE": "automation", "RUN_START_CONCURRENCY": concurrency})
    with pytest.raises(InvalidSetting, match="run_start_concurrency"):
        runtime.settings()


def test_the_run_start_concurrency_is_template_yaml_s_and_16_when_unset(deployed: Deploy) -> None:
    environment = _environment("DispatcherFunction")
    deployed(environment)
    assert runtime.settings().run_start_concurrency == int(environment["RUN_START_CONCURRENCY"])
    deployed({"AUTOMATION_TABLE": "automation"})
    assert runtime.settings().run_start_concurrency == 16


def test_a_function_without_the_automation_table_fails_naming_it(deployed: Deploy) -> None:
    deployed({"DEALS_TABLE": "deals"})
    with pytest.raises(MissingSetting, match="AUTOMATION_TABLE"):
        runtime.settings()


@pytest.mark.parametrize("stops", ["-1", "1.5", "nan"])
def test_inline_stops_must_be_a_whole_number_from_zero(stops: str, deployed: Deploy) -> None:
    deployed({"AUTOMATION_TABLE": "automation", "CANCEL_INLINE_STOPS": stops})
    with pytest.raises(InvalidSetting, match="cancel_inline_stops"):
        runtime.settings()


def test_a_runner_without_its_topic_fails_at_cold_start_not_with_its_first_run(deployed: Deploy) -> None:
    environment = _environment("RunnerFunction")
    del environment["NOTIFICATIONS_TOPIC_ARN"]
    deployed(environment)
    with pytest.raises(MissingSetting, match="NOTIFICATIONS_TOPIC_ARN"):
        _load_handler("RunnerFunction")
