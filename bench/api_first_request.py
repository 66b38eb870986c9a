"""What a fresh management API container pays for its import and its first requests, CPU.

``cold_start.py`` measures the import alone; the API now loads a router (its models, stores and
services) with the first request that needs it, so the import alone would flatter it. Here a
fresh interpreter (``python -I``) imports ``functions/api/app.py`` as Lambda does (as
``cold_start.py`` does) and its handler then gets, in order: ``GET /pipelines`` (the first
request: the pipelines router, the automation store, the tenant's automation read and compiled),
``GET /automation`` (a second router's first request), ``GET /pipelines`` again (warm). No moto
in that process: every AWS call is answered inside botocore (``before-call``, after validation
and serialisation, as its Stubber answers) from a tenant's AutomationTable items that this bench
wrote on moto beforehand (``bench/workload.py``'s tenant, ``--rules`` stage rules) and hands over
as DynamoDB JSON. Each answer must be a 200.

``--against DIR`` measures another checkout too (the code before a change: ``git worktree add``
or ``git archive`` of its commit), its children alternating with this checkout's in the same
run; a child that only imports ``boto3`` is the baseline of both. Medians of ``--runs``.

Run from the repository root:  python bench/api_first_request.py [--rules N] [--runs N] [--against DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cold_start import AWS_ENVIRONMENT
from bench.measure import REPO, function_environment, run_child

TENANT = "bench-api"
REQUESTS = (
    ("first GET /pipelines", "/pipelines"),
    ("then GET /automation", "/automation"),
    ("GET /pipelines again", "/pipelines"),
)
_BASELINE = """
import json, time
cpu = time.process_time()
import boto3
print(json.dumps({"import": time.process_time() - cpu}))
"""
# Queries read the tenant's items by partition key and sort-key prefix, GetItem one item by its
# key; anything else succeeds with nothing to say.
_API = """
import json, re, sys, time
sys.path[:0] = {paths!r}
# Parsed afresh for each answer: botocore turns what it is handed into the parsed response in place.
items_text = open({fixture_items!r}).read()
def key_of(item, names):
    return {{name: item.get(name) for name in names}}
def answer(model, params, **_):
    from botocore.awsrequest import AWSResponse
    ok = AWSResponse(None, 200, {{}}, None)
    request = json.loads(params["body"] or "{{}}")  # the serialised request, as it would be sent
    items = json.loads(items_text)
    if model.name == "Query":
        names, values = request.get("ExpressionAttributeNames", {{}}), request["ExpressionAttributeValues"]
        expression = request["KeyConditionExpression"]
        equal = re.search(r"(#\\w+) = (:\\w+)", expression)
        prefix = re.search(r"begins_with\\((#\\w+), (:\\w+)\\)", expression)
        found = [
            item for item in items
            if item.get(names[equal.group(1)]) == values[equal.group(2)]
            and (prefix is None or item.get(names[prefix.group(1)], {{}}).get("S", "").startswith(
                values[prefix.group(2)]["S"]))
        ]
        return ok, {{"Items": found, "Count": len(found), "ScannedCount": len(found)}}
    if model.name == "GetItem":
        key = request["Key"]
        found = next((item for item in items if key_of(item, key) == key), None)
        return ok, ({{"Item": found}} if found else {{}})
    return ok, {{}}
cpu = time.process_time()
import boto3
boto3.setup_default_session()
boto3.DEFAULT_SESSION.events.register("before-call.*.*", answer)
import app
readings = {{"import": time.process_time() - cpu}}
class Context:
    function_name, memory_limit_in_mb, aws_request_id = "ApiFunction", 512, "bench"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:ApiFunction"
claims = {{"sub": "u-admin", "custom:tenant_id": {tenant!r}, "custom:role": "admin"}}
for label, path in {requests!r}:
    event = {{
        "version": "2.0", "routeKey": "ANY /{{proxy+}}", "rawPath": path, "rawQueryString": "",
        "headers": {{"accept": "application/json"}}, "isBase64Encoded": False,
        "requestContext": {{"http": {{"method": "GET", "path": path}}, "stage": "$default",
                            "authorizer": {{"jwt": {{"claims": claims}}}}}},
    }}
    cpu = time.process_time()
    response = app.handler(event, Context())
    readings[label] = time.process_time() - cpu
    assert response["statusCode"] == 200, (path, response)
readings["rss_mb"] = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024
print(json.dumps(readings))
"""


def tenant_items(rules: int, seed: int) -> list[dict[str, Any]]:
    """The workload's tenant in AutomationTable (as the automation store keeps it), as DynamoDB JSON."""
    import boto3

    from bench.handler import _seed
    from bench.workload import build
    from dealflow import runtime
    from dealflow.local.stack import MotoStack

    with MotoStack() as stack:
        _seed(stack, build(10, rules, seed=seed, conditions="mixed", tenant_id=TENANT))
        client = boto3.client("dynamodb")
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"TableName": runtime.settings().automation_table}
        while True:
            page = client.scan(**params)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def measure(rules: int, runs: int, seed: int, checkouts: Sequence[Path]) -> dict[str, list[dict[str, float]]]:
    """``runs`` rounds of a boto3 child and one API child per checkout, round-robin."""
    base = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG", "TZ")}
    env = {**base, **AWS_ENVIRONMENT, **function_environment("ApiFunction")}
    readings: dict[str, list[dict[str, float]]] = {"import boto3": []}
    with tempfile.TemporaryDirectory() as folder:
        items = Path(folder) / "items.json"
        items.write_text(json.dumps(tenant_items(rules, seed)))
        codes = {}
        for checkout in checkouts:
            paths = [str(checkout / "functions" / "api"), str(checkout / "layers" / "shared" / "python")]
            label = "api" if checkout == REPO else f"api ({checkout})"
            codes[label] = _API.format(paths=paths, fixture_items=str(items), tenant=TENANT, requests=REQUESTS)
            readings[label] = []
            run_child(codes[label], env)  # untimed: writes the bytecode cache, as a deployed package ships it
        for _ in range(runs):
            readings["import boto3"].append(run_child(_BASELINE, env))
            for label, code in codes.items():
                readings[label].append(run_child(code, env))
    return readings


def main(argv: Sequence[str] | None = None) -> dict[str, list[dict[str, float]]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1_000, help="stage rules of the tenant (default 1000)")
    parser.add_argument("--runs", type=int, default=5, help="fresh children of each, median counts (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--against", type=Path, action="append", default=[], help="another checkout to measure too")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    readings = measure(args.rules, args.runs, args.seed, [REPO, *(path.resolve() for path in args.against)])
    boto3_ms = statistics.median(r["import"] for r in readings.pop("import boto3")) * 1e3
    labels = ["import", *(label for label, _ in REQUESTS)]
    print(
        f"management API, fresh process, tenant of {args.rules} rules, AWS answered in-process; "
        f"CPU ms, median of {args.runs}"
    )
    print(f"  import boto3: {boto3_ms:.0f} ms")
    print(f"  {'':<40}" + "".join(f"{label:>22}" for label in labels) + f"{'import + first':>16}{'peak RSS MB':>13}")
    for name, rows in readings.items():
        ms = {label: statistics.median(r[label] for r in rows) * 1e3 for label in labels}
        first = statistics.median((r["import"] + r[REQUESTS[0][0]]) for r in rows) * 1e3
        cells = "".join(f"{ms[label]:>14.0f} ({ms[label] / boto3_ms:4.2f}x)" for label in labels)
        rss = statistics.median(r["rss_mb"] for r in rows)
        print(f"  {name:<40}{cells}{first:>9.0f} ({first / boto3_ms:4.2f}x){rss:>13.1f}")
    return readings


if __name__ == "__main__":
    main()
