"""The dispatcher's own memory over one batch: peak RSS of a fresh process against ``import boto3``.

A fresh interpreter (``python -I``) imports ``functions/dispatcher/app.py`` as Lambda does (as
``bench/cold_start.py`` does: the function's folder and the layer on ``sys.path``, template.yaml's
environment, fake credentials, an endpoint on 127.0.0.1 where nothing listens), then its handler
gets one batch of ``--batch-size`` records (the mapping's BatchSize, 100) in Lambda's event shape
(``bench/workload.py``: a tenant of ``--rules`` stage rules, mixed conditions, so runs start and
"not started" entries are written). No moto in that process: every AWS call is answered inside
botocore as its Stubber answers (``before-call``, after validation and serialisation): queries of
AutomationTable from the tenant's items, which this bench wrote on moto beforehand (in its own
process) and hands over as DynamoDB JSON; writes and run starts with an empty success. So the
figures are the function's own: its imports, its clients, the tenant's automation read and
compiled, the batch.

Prints, median of ``--runs`` children: peak RSS (Linux ``VmHWM``) after the import and after the
batch, against a child that only imports ``boto3``; the first batch's CPU (it reads and compiles
the automation: the models and Jinja2 load then, not at import) and the runs it started.

Run from the repository root:  python bench/dispatcher_rss.py [--rules N] [--batch-size N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import LAYER
from bench.cold_start import AWS_ENVIRONMENT
from bench.measure import REPO, function_environment, stream_batch_size

_PEAK = """
import json, re, sys, time
def peak_mb():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024
"""
_BASELINE = (
    _PEAK
    + """
import boto3
print(json.dumps({"import_mb": peak_mb()}))
"""
)
# The answers: a query reads the tenant's items by partition and sort-key prefix (the only query
# the dispatcher's path makes); anything else succeeds with nothing to say.
_DISPATCHER = (
    _PEAK
    + """
sys.path[:0] = {paths!r}
# Kept as text and parsed per query, as botocore parses a response: what a query returns is freed
# after it, not held by this bench for the whole batch.
items_text = open({fixture_items!r}).read()
started = 0
def answer(model, params, **_):
    global started
    from botocore.awsrequest import AWSResponse
    ok = AWSResponse(None, 200, {{}}, None)
    if model.name == "Query":
        request = json.loads(params["body"])  # the serialised request, as it would be sent
        names, values = request.get("ExpressionAttributeNames", {{}}), request["ExpressionAttributeValues"]
        expression = request["KeyConditionExpression"]
        equal = re.search(r"(#\\w+) = (:\\w+)", expression)
        prefix = re.search(r"begins_with\\((#\\w+), (:\\w+)\\)", expression)
        found = [
            item for item in json.loads(items_text)
            if item.get(names[equal.group(1)]) == values[equal.group(2)]
            and (prefix is None or item.get(names[prefix.group(1)], {{}}).get("S", "").startswith(
                values[prefix.group(2)]["S"]))
        ]
        return ok, {{"Items": found, "Count": len(found), "ScannedCount": len(found)}}
    if model.name == "Invoke":
        started += 1
        return AWSResponse(None, 202, {{}}, None), {{"StatusCode": 202}}
    if model.name == "BatchWriteItem":
        return ok, {{"UnprocessedItems": {{}}}}
    return ok, {{}}
# Registered on the default session before the function builds its clients, so all of them answer.
import boto3
boto3.setup_default_session()
boto3.DEFAULT_SESSION.events.register("before-call.*.*", answer)
import app
import_mb = peak_mb()
event = json.load(open({fixture_event!r}))
class Context:
    function_name, memory_limit_in_mb, aws_request_id = "DispatcherFunction", 512, "bench"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:DispatcherFunction"
cpu = time.process_time()
response = app.handler(event, Context())
cpu = time.process_time() - cpu
assert not response.get("batchItemFailures"), response
print(json.dumps({{"import_mb": import_mb, "batch_mb": peak_mb(), "cpu": cpu, "started": started}}))
"""
)


@dataclass
class Readings:
    import_mb: list[float] = field(default_factory=list)
    batch_mb: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    started: list[int] = field(default_factory=list)

    def add(self, reading: dict[str, Any]) -> None:
        self.import_mb.append(reading["import_mb"])
        self.batch_mb.append(reading.get("batch_mb", 0.0))
        self.cpu.append(reading.get("cpu", 0.0))
        self.started.append(reading.get("started", 0))


def fixture(rules: int, batch_size: int, seed: int) -> tuple[dict[str, Any], int]:
    """The tenant's AutomationTable items (written by the automation store on moto, read back as
    DynamoDB JSON) and one batch of its stream; and the runs the floor of ``peers.py`` fires."""
    import boto3

    from bench.handler import _seed
    from bench.peers import IndexedPeer, to_closure
    from bench.workload import build
    from dealflow import runtime
    from dealflow.local.stack import MotoStack

    with MotoStack() as stack:
        workload = build(batch_size, rules, seed=seed, conditions="mixed", tenant_id="bench-rss")
        _seed(stack, workload)
        client = boto3.client("dynamodb")
        items, params = [], {"TableName": runtime.settings().automation_table}
        while True:
            page = client.scan(**params)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    expected = len(IndexedPeer(workload.rules, to_closure).run(workload.records))
    return {"items": items, "event": workload.batches(batch_size)[0]}, expected


def _run(code: str, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-I", "-c", code], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the child failed:\n{out.stdout[:2000]}\n{out.stderr[:1500]}")
    reading: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return reading


def measure(rules: int, batch_size: int, runs: int, seed: int) -> tuple[Readings, Readings, int]:
    """``runs`` rounds of a boto3 child and a dispatcher child; and the runs the batch should start."""
    data, expected = fixture(rules, batch_size, seed)
    base = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG", "TZ")}
    env = {**base, **AWS_ENVIRONMENT, **function_environment("DispatcherFunction")}
    boto3_only, dispatcher = Readings(), Readings()
    with tempfile.TemporaryDirectory() as folder:
        items, event = Path(folder) / "items.json", Path(folder) / "event.json"
        items.write_text(json.dumps(data["items"]))
        event.write_text(json.dumps(data["event"]))
        paths = [str(REPO / "functions" / "dispatcher"), LAYER]
        code = _DISPATCHER.format(paths=paths, fixture_items=str(items), fixture_event=str(event))
        _run(code, env)  # untimed: writes the bytecode cache, as a deployed package ships it
        for _ in range(runs):
            boto3_only.add(_run(_BASELINE, env))
            dispatcher.add(_run(code, env))
    return boto3_only, dispatcher, expected


def main(argv: Sequence[str] | None = None) -> tuple[Readings, Readings, int]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1_000, help="stage rules of the tenant (default 1000)")
    parser.add_argument("--batch-size", type=int, default=stream_batch_size(), help="records in the batch")
    parser.add_argument("--runs", type=int, default=5, help="fresh children of each, median counts (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    boto3_only, dispatcher, expected = measure(args.rules, args.batch_size, args.runs, args.seed)
    if dispatcher.started[0] != expected:
        raise AssertionError(f"the batch started {dispatcher.started[0]} runs; the floor of peers.py fires {expected}")
    base = statistics.median(boto3_only.import_mb)
    after_import, after_batch = statistics.median(dispatcher.import_mb), statistics.median(dispatcher.batch_mb)
    print(
        f"dispatcher, fresh process, one batch of {args.batch_size} records ({args.rules} rules, "
        f"{dispatcher.started[0]} runs started, checked), AWS answered in-process; median of {args.runs}:"
    )
    print(f"  {'peak RSS':<40} {'MB':>7} {'x boto3':>8}")
    print(f"  {'import boto3':<40} {base:>7.1f} {1:>7.2f}x")
    print(f"  {'dispatcher, after import':<40} {after_import:>7.1f} {after_import / base:>7.2f}x")
    print(f"  {'dispatcher, after the batch':<40} {after_batch:>7.1f} {after_batch / base:>7.2f}x")
    print(f"  first batch CPU (reads and compiles the automation): {statistics.median(dispatcher.cpu) * 1e3:.0f} ms")
    return boto3_only, dispatcher, expected


if __name__ == "__main__":
    main()
