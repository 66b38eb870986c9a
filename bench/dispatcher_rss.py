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

``--profile`` runs two more dispatcher children: one lists the modules its first batch loads; the
other builds the batch's parts one at a time before the batch (those modules, libraries first and
dealflow's layers bottom up; the DynamoDB resource and client; the tenant read; its definitions
read as models; the automation read again and compiled, as ``AutomationStore.load`` does) and
prints VmRSS after each, so each line is what that part added. Memory a part frees is not handed
back to the system but reused by the next, so the lines add up to the batch's peak.

Run from the repository root:  python bench/dispatcher_rss.py [--rules N] [--batch-size N] [--runs N] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import LAYER
from bench.cold_start import AWS_ENVIRONMENT
from bench.measure import REPO, function_environment, layer_botocore, run_child, stream_batch_size

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
# Kept as text, one line per item in key order, and parsed per query page, as botocore parses a
# response: only the page a query returns is decoded, and it is freed after it.
stored = [line.rstrip("\\n").split("\\t", 2) for line in open({fixture_items!r})]
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
        assert names[equal.group(1)] == "tenant_id" and (prefix is None or names[prefix.group(1)] == "sk"), expression
        tenant, begins = values[equal.group(2)]["S"], values[prefix.group(2)]["S"] if prefix else ""
        after = request.get("ExclusiveStartKey", {{}}).get("sk", {{}}).get("S", "")
        limit = request.get("Limit") or len(stored)
        found = [text for t, sk, text in stored if t == tenant and sk.startswith(begins) and sk > after]
        page = {{}}
        if len(found) > limit:
            found = found[:limit]
        items = [json.loads(text) for text in found]
        if len(items) == limit and limit < len(stored):
            page["LastEvaluatedKey"] = {{"tenant_id": items[-1]["tenant_id"], "sk": items[-1]["sk"]}}
        return ok, {{"Items": items, "Count": len(items), "ScannedCount": len(items), **page}}
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
extra = {{}}  # what --profile adds to the reading
import app
import_mb = peak_mb()
{before_batch}
event = json.load(open({fixture_event!r}))
class Context:
    function_name, memory_limit_in_mb, aws_request_id = "DispatcherFunction", 512, "bench"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:DispatcherFunction"
cpu = time.process_time()
response = app.handler(event, Context())
cpu = time.process_time() - cpu
assert not response.get("batchItemFailures"), response
{after_batch}
print(json.dumps({{"import_mb": import_mb, "batch_mb": peak_mb(), "cpu": cpu, "started": started, **extra}}))
"""
)

# --profile, first child: the modules the batch loads, in the order they load.
_MODULES_BEFORE = "loaded_before = set(sys.modules)"
_MODULES_AFTER = 'extra["modules"] = [name for name in sys.modules if name not in loaded_before]'
# --profile, second child: the same batch, its parts built one at a time before it, VmRSS after
# each (what each part adds: memory freed on the way is not handed back, so later parts reuse it).
_STAGES_BEFORE = """
import importlib
def rss_mb():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024
stages = [("after the import", rss_mb())]
for label, names in {groups!r}:
    for name in names:
        importlib.import_module(name)
    stages.append(("modules: " + label, rss_mb()))
from dealflow import runtime
runtime.tables(), runtime.batch_writes()
stages.append(("DynamoDB resource and client", rss_mb()))
store = runtime.automation_store()
tenant = store.get_tenant({tenant!r})
stages.append(("the tenant read", rss_mb()))
definitions = store.definitions({tenant!r})
stages.append(("its definitions read, as models", rss_mb()))
del definitions
store.load({tenant!r})
stages.append(("read again and compiled (load)", rss_mb()))
"""
_STAGES_AFTER = """
stages.append(("the batch (Lambda client, runs started, entries written)", rss_mb()))
extra["stages"] = stages
"""


_LAYERS = ("model", "http_errors", "limits", "language", "engine", "policy", "authoring", "store", "aws")


def module_groups(modules: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The modules grouped by package (``dealflow`` by its subpackage), in the order to import
    them so that each group adds only itself: libraries first, then dealflow's layers bottom up."""
    groups: dict[str, list[str]] = {}
    for name in modules:
        parts = name.split(".")
        groups.setdefault(".".join(parts[:2]) if parts[0] == "dealflow" else parts[0], []).append(name)

    def rank(label: str) -> int:
        layer = label.split(".")[1] if label.startswith("dealflow.") else None
        return 0 if layer is None else 1 + (_LAYERS.index(layer) if layer in _LAYERS else len(_LAYERS))

    return sorted(groups.items(), key=lambda group: rank(group[0]))


@dataclass
class Readings:
    import_mb: list[float] = field(default_factory=list)
    batch_mb: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    started: list[int] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)  # --profile: modules and stages

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
    return {"items": items, "event": workload.batches(batch_size)[0], "tenant_id": "bench-rss"}, expected


def measure(
    rules: int, batch_size: int, runs: int, seed: int, profile: bool = False
) -> tuple[Readings, Readings, Readings, int]:
    """``runs`` rounds of a boto3 child, a dispatcher child on the layer's botocore (slimmed, as
    deployed) and one on botocore as pip installs it; and the runs the batch should start. With
    ``profile``, two more dispatcher children: the modules its batch loads, then where its memory
    goes (``Readings.profile``)."""
    data, expected = fixture(rules, batch_size, seed)
    base = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG", "TZ")}
    env = {**base, **AWS_ENVIRONMENT, **function_environment("DispatcherFunction")}
    boto3_only, dispatcher, untouched = Readings(), Readings(), Readings()
    with tempfile.TemporaryDirectory() as folder:
        items, event = Path(folder) / "items.json", Path(folder) / "event.json"
        ordered = sorted(data["items"], key=lambda item: (item["tenant_id"]["S"], item["sk"]["S"]))
        items.write_text("".join(f"{i['tenant_id']['S']}\t{i['sk']['S']}\t{json.dumps(i)}\n" for i in ordered))
        event.write_text(json.dumps(data["event"]))
        function = [str(REPO / "functions" / "dispatcher"), LAYER]
        child = partial(
            _DISPATCHER.format, paths=[*function, layer_botocore()], fixture_items=str(items), fixture_event=str(event)
        )
        code = child(before_batch="", after_batch="")
        as_installed = _DISPATCHER.format(
            paths=function, fixture_items=str(items), fixture_event=str(event), before_batch="", after_batch=""
        )
        run_child(code, env)  # untimed: writes the bytecode cache, as a deployed package ships it
        for _ in range(runs):
            boto3_only.add(run_child(_BASELINE, env))
            dispatcher.add(run_child(code, env))
            untouched.add(run_child(as_installed, env))
        if profile:
            modules = run_child(child(before_batch=_MODULES_BEFORE, after_batch=_MODULES_AFTER), env)["modules"]
            stages = _STAGES_BEFORE.format(groups=module_groups(modules), tenant=data["tenant_id"])
            reading = run_child(child(before_batch=stages, after_batch=_STAGES_AFTER), env)
            dispatcher.profile = {"modules": modules, "stages": reading["stages"]}
    return boto3_only, dispatcher, untouched, expected


def main(argv: Sequence[str] | None = None) -> tuple[Readings, Readings, Readings, int]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1_000, help="stage rules of the tenant (default 1000)")
    parser.add_argument("--batch-size", type=int, default=stream_batch_size(), help="records in the batch")
    parser.add_argument("--runs", type=int, default=5, help="fresh children of each, median counts (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile", action="store_true", help="also print the modules the batch loads and what each part adds to RSS"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    boto3_only, dispatcher, untouched, expected = measure(
        args.rules, args.batch_size, args.runs, args.seed, args.profile
    )
    for readings in (dispatcher, untouched):
        if readings.started[0] != expected:
            started = readings.started[0]
            raise AssertionError(f"the batch started {started} runs; the floor of peers.py fires {expected}")
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
    installed = statistics.median(untouched.batch_mb)
    print(f"  {'  the same, botocore not slimmed':<40} {installed:>7.1f} {installed / base:>7.2f}x")
    print(f"  first batch CPU (reads and compiles the automation): {statistics.median(dispatcher.cpu) * 1e3:.0f} ms")
    if dispatcher.profile:
        print_profile(dispatcher.profile)
    return boto3_only, dispatcher, untouched, expected


def print_profile(profile: dict[str, Any]) -> None:
    groups = module_groups(profile["modules"])
    print(f"modules the first batch loads ({len(profile['modules'])}), by package:")
    print("  " + ", ".join(f"{label} {len(names)}" for label, names in groups))
    print("where the batch's memory goes (one child, each part built before the batch; VmRSS MB):")
    last, small = None, []
    for label, mb in profile["stages"]:
        if last is not None and mb - last < 0.1:
            small.append(label.removeprefix("modules: "))
            continue
        added = "" if last is None else f"+{mb - last:.1f}"
        print(f"  {label:<58} {mb:>6.1f} {added:>6}")
        last = mb
    if small:
        print(f"  (under 0.1 MB each: {', '.join(small)})")


if __name__ == "__main__":
    main()
