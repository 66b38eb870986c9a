"""The layer's botocore, slimmed at build (``layers/shared/slim_botocore.py``), calls AWS exactly as
the untouched one does: the same endpoint for every service the functions use, in every region of
every partition; the same requests; clients of other services still resolved; and no function
builds a client of a service whose data was dropped."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore
import pytest
from botocore.loaders import create_loader
from botocore.model import ServiceModel
from botocore.regions import EndpointResolver
from botocore.serialize import create_serializer

from bench.measure import REPO, slimming

slim_botocore = slimming()

LOADER = create_loader()


def _model(service: str) -> dict[str, Any]:
    return LOADER.load_service_model(service, "service-2")


def _prefixes() -> set[str]:
    return {_model(service)["metadata"]["endpointPrefix"] for service in slim_botocore.SERVICES}


def _resolved(resolver: EndpointResolver, prefix: str, region: str, args: dict[str, Any]) -> Any:
    """What the resolver answers, or the error it raises (no dual-stack endpoint modelled, say)."""
    try:
        return resolver.construct_endpoint(prefix, region, **args)
    except Exception as exc:  # compared as what it says
        return f"{type(exc).__name__}: {exc}"


def test_every_endpoint_of_the_services_kept_resolves_as_before_in_every_region() -> None:
    full = LOADER.load_data("endpoints")
    kept = EndpointResolver(slim_botocore.endpoints_of(full, _prefixes()), uses_builtin_data=True)
    untouched = EndpointResolver(full, uses_builtin_data=True)
    checked = 0
    for partition in full["partitions"]:
        for region in partition["regions"]:
            for prefix in _prefixes():
                for dualstack in (False, True):
                    for fips in (False, True):
                        for fallback in ({}, {"partition_name": "aws"}):
                            args = {"use_dualstack_endpoint": dualstack, "use_fips_endpoint": fips, **fallback}
                            assert _resolved(kept, prefix, region, args) == _resolved(
                                untouched, prefix, region, args
                            ), (prefix, region, args)
                            checked += 1
    assert checked > 1_000
    assert kept.get_available_partitions() == untouched.get_available_partitions()


def _differences(full: Any, slim: Any, at: str = "") -> Iterator[str]:
    """Where two models differ, but for documentation strings the slim one leaves out."""
    if isinstance(full, dict) and isinstance(slim, dict):
        for key, value in full.items():
            if key not in slim:
                if not (key == "documentation" and isinstance(value, str)):
                    yield f"{at}.{key} dropped"
            else:
                yield from _differences(value, slim[key], f"{at}.{key}")
        yield from (f"{at}.{key} added" for key in slim.keys() - full.keys())
    elif isinstance(full, list) and isinstance(slim, list) and len(full) == len(slim):
        for i, (a, b) in enumerate(zip(full, slim, strict=True)):
            yield from _differences(a, b, f"{at}.{i}")
    elif full != slim:
        yield f"{at} changed"


@pytest.mark.parametrize("service", sorted(slim_botocore.SERVICES))
def test_a_slimmed_model_is_the_model_without_its_documentation(service: str) -> None:
    full = _model(service)
    slim = slim_botocore.without_documentation(full)
    assert list(_differences(full, slim)) == []
    assert len(json.dumps(slim)) < len(json.dumps(full)) / 2


REQUESTS = {
    "dynamodb": (
        "Query",
        {
            "TableName": "AutomationTable",
            "KeyConditionExpression": "#t = :t AND begins_with(#s, :p)",
            "ExpressionAttributeNames": {"#t": "tenant_id", "#s": "sk"},
            "ExpressionAttributeValues": {":t": {"S": "acme"}, ":p": {"S": "DEF#"}},
            "Limit": 100,
        },
    ),
    "lambda": ("Invoke", {"FunctionName": "Runner:live", "InvocationType": "Event", "Payload": b'{"run_id": "r"}'}),
    "sesv2": (
        "SendEmail",
        {
            "FromEmailAddress": "crm@example.com",
            "Destination": {"ToAddresses": ["dana@example.com"]},
            "Content": {"Simple": {"Subject": {"Data": "Won"}, "Body": {"Text": {"Data": "Deal won"}}}},
        },
    ),
    "sns": ("Publish", {"TopicArn": "arn:aws:sns:eu-west-1:123456789012:deals", "Message": "won"}),
    "sqs": ("SendMessage", {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/1/q", "MessageBody": "x"}),
    "ssm": ("GetParameter", {"Name": "/dealflow/secret", "WithDecryption": True}),
}


@pytest.mark.parametrize("service", sorted(slim_botocore.SERVICES))
def test_a_request_serialises_the_same_with_the_slimmed_model(service: str) -> None:
    assert set(REQUESTS) == slim_botocore.SERVICES
    operation, params = REQUESTS[service]
    requests = []
    for model in (_model(service), slim_botocore.without_documentation(_model(service))):
        service_model = ServiceModel(model, service_name=service)
        serializer = create_serializer(service_model.metadata["protocol"], include_validation=True)
        requests.append(serializer.serialize_to_request(params, service_model.operation_model(operation)))
    assert requests[0] == requests[1]


_ENDPOINTS_SEEN = """
import json, os, sys
os.environ.update(AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s")
import boto3, botocore
from botocore.awsrequest import AWSResponse
seen = {}
for region in ("eu-west-1", "us-east-1", "us-gov-west-1", "cn-north-1", "ap-southeast-5"):
    for service in ("dynamodb", "lambda", "sesv2", "sns", "sqs", "ssm", "s3", "kinesis", "sts"):
        for fips in (False, True):
            config = botocore.config.Config(region_name=region, use_fips_endpoint=fips)
            try:
                client = boto3.session.Session().client(service, config=config)
            except Exception as exc:
                seen[f"{service} {region} {fips}"] = type(exc).__name__
                continue
            def sent(request, **_):
                seen[f"{service} {region} {fips}"] = request.url.split("?")[0]
                return AWSResponse(request.url, 400, {}, None)
            client.meta.events.register("before-send", sent)
            try:
                {"dynamodb": lambda: client.list_tables(), "lambda": lambda: client.list_functions(),
                 "sesv2": lambda: client.get_account(), "sns": lambda: client.list_topics(),
                 "sqs": lambda: client.list_queues(), "ssm": lambda: client.describe_parameters(),
                 "s3": lambda: client.list_objects_v2(Bucket="b"), "kinesis": lambda: client.list_streams(),
                 "sts": lambda: client.get_caller_identity()}[service]()
            except Exception as exc:
                seen.setdefault(f"{service} {region} {fips}", type(exc).__name__)
print(json.dumps({"botocore": botocore.__file__, "seen": seen}))
"""


def _endpoints_seen(path: Path | None) -> dict[str, Any]:
    code = (f"import sys; sys.path.insert(0, {str(path)!r})\n" if path else "") + _ENDPOINTS_SEEN
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_clients_built_on_the_slimmed_botocore_call_the_same_endpoints(tmp_path: Path) -> None:
    """Kept services and others (S3, Kinesis, STS) alike, FIPS or not, in four partitions."""
    shutil.copytree(Path(botocore.__file__).parent, tmp_path / "botocore")
    sizes = slim_botocore.slim(tmp_path / "botocore")
    assert sizes["after"] < sizes["before"] / 5
    slimmed, untouched = _endpoints_seen(tmp_path), _endpoints_seen(None)
    assert slimmed["botocore"].startswith(str(tmp_path)) and not untouched["botocore"].startswith(str(tmp_path))
    assert slimmed["seen"] == untouched["seen"]
    assert len(slimmed["seen"]) == 5 * 9 * 2
    assert slimmed["seen"]["dynamodb eu-west-1 False"] == "https://dynamodb.eu-west-1.amazonaws.com/"


_CLIENT = re.compile(r"""\.(?:client|resource)\(\s*["']([a-z0-9-]+)["']""")


def test_the_functions_build_clients_of_the_services_kept_only() -> None:
    """The layer leaves out dealflow/local and dealflow/cli (its Makefile): the rest must only
    build clients whose data the slimming keeps."""
    layer = REPO / "layers" / "shared" / "python" / "dealflow"
    sources = [p for p in layer.rglob("*.py") if not {"local", "cli"} & set(p.relative_to(layer).parts)]
    sources += list((REPO / "functions").rglob("*.py"))
    built = {name for path in sources for name in _CLIENT.findall(path.read_text(encoding="utf-8"))}
    assert built and built <= slim_botocore.SERVICES, built - slim_botocore.SERVICES


def test_the_layer_build_slims_the_botocore_it_bundles() -> None:
    makefile = (REPO / "layers" / "shared" / "Makefile").read_text(encoding="utf-8")
    install, slim = makefile.index("pip install"), makefile.index('$(PYTHON) "$(HERE)slim_botocore.py"')
    assert install < slim
    assert '"$(ARTIFACTS_DIR)/python/botocore"' in makefile[slim:].splitlines()[0]
