"""The runner's cold start as a run pays it: the import, then the container's first run, then a
second (warm) run, in a fresh process.

A function whose import defers work to its first invocation has moved that work, not removed it:
this bench shows where it went. A fresh interpreter (``python -I``) imports
``functions/runner/app.py`` as Lambda does (as ``bench/cold_start.py`` does: the function's folder
and the layer on ``sys.path``, template.yaml's environment, fake credentials, an endpoint on
127.0.0.1 where nothing listens), then runs ``events/runner-start.json`` (a rule that notifies the
head of sales with a rendered message) and the same request under another run id, each through the
durable testing SDK in-process, as ``sam local invoke`` would. No moto in that process: every AWS
call is answered inside botocore (``before-call``, after validation and serialisation) with what
moto answered the same call when this bench ran the same two runs on the local harness beforehand
(its seed, as events/README.md says), in the same order per operation; a child that makes a call
the recording lacks, or leaves one unanswered, fails.

The testing SDK (the stand-in for Lambda's durable service) is imported between the import and the
first run and is not counted; its share of each run (the checkpoints it keeps) is in both runs, so
the second run shows it and first minus second is what the first run pays once.

``--against DIR`` measures another checkout of the repository the same way, round-robin with this
one (its own app.py and layer; the AWS answers recorded here): before and after a change in one run.

Prints, median of ``--runs`` children each: CPU ms of the import, of the first run, their sum, and of
the second run; the peak RSS (``VmHWM``) after the import and after both runs.

Run from the repository root:  python bench/runner_first_run.py [--runs N] [--against DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import statistics
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cold_start import AWS_ENVIRONMENT
from bench.measure import REPO, function_environment, run_child

SAMPLE = REPO / "events" / "runner-start.json"
_CHILD = """
import json, pickle, re, sys, time
sys.path[:0] = {paths!r}
def peak_mb():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024
with open({answers!r}, "rb") as file:
    answers = pickle.load(file)
first, second = json.load(open({requests!r}))

def answer(model, params, **_):
    from botocore.awsrequest import AWSResponse
    queue = answers.get((model.service_model.service_name, model.name))
    if not queue:
        raise AssertionError(f"no recorded answer for {{model.service_model.service_name}} {{model.name}}")
    status, parsed = queue.pop(0)
    return AWSResponse(None, status, {{}}, None), pickle.loads(parsed)

cpu = time.process_time()
import boto3
# On the default session before the function builds a client, so every client answers from here.
boto3.setup_default_session()
boto3.DEFAULT_SESSION.events.register("before-call.*.*", answer)
import app
imported = time.process_time() - cpu
import_mb = peak_mb()

from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner
runner = DurableFunctionTestRunner(handler=app.handler)
cpu_runs = []
for request in (first, second):
    cpu = time.process_time()
    result = runner.run(input=json.dumps(request), function_name="RunnerFunction", execution_name=request["run_id"])
    cpu_runs.append(time.process_time() - cpu)
    assert result.status.name == "SUCCEEDED", result.error
runner.close()
left = {{" ".join(key): len(queue) for key, queue in answers.items() if queue}}
assert not left, f"recorded calls the runs did not make: {{left}}"
print(json.dumps({{
    "import": imported, "first": cpu_runs[0], "second": cpu_runs[1], "import_mb": import_mb, "runs_mb": peak_mb()
}}))
"""


@dataclass
class Readings:
    name: str
    root: Path
    imported: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    second: list[float] = field(default_factory=list)
    import_mb: list[float] = field(default_factory=list)
    runs_mb: list[float] = field(default_factory=list)

    def add(self, reading: dict[str, float]) -> None:
        self.imported.append(reading["import"])
        self.first.append(reading["first"])
        self.second.append(reading["second"])
        self.import_mb.append(reading["import_mb"])
        self.runs_mb.append(reading["runs_mb"])


def requests() -> list[dict[str, Any]]:
    """The sample request, then the same run of the same change under another run id."""
    from dealflow.engine.run_requests import run_id_for

    first = json.loads(SAMPLE.read_text())
    second = {**first, "event_id": f"{first['event_id']}-again"}
    second["run_id"] = run_id_for(second["event_id"], second["automation"]["id"])
    return [first, second]


def record(runs: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[int, bytes]]]:
    """What moto answered each AWS call of the runs, by service and operation, in order (each
    answer pickled as it came, before boto3's resource layer rewrites it in place)."""
    import boto3
    from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner

    from dealflow import runtime
    from dealflow.local.seed import seed
    from dealflow.local.stack import MotoStack

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the moto server's line per request
    answers: dict[tuple[str, str], list[tuple[int, bytes]]] = defaultdict(list)

    def keep(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        answers[(model.service_model.service_name, model.name)].append(
            (http_response.status_code, pickle.dumps(parsed))
        )

    with MotoStack(server=True) as stack:
        assert stack.endpoint is not None
        seed(stack.endpoint)
        boto3.DEFAULT_SESSION.events.register("after-call.*.*", keep)
        # The harness's runner, its services (and the cached tables and automation store they
        # use) built anew on the hooked session.
        runtime.reset()
        stack._runner_app.SERVICES = runtime.runner_services(counted=stack._runner_app.METRICS)
        with DurableFunctionTestRunner(handler=stack._runner_app.handler) as runner:
            for request in runs:
                result = runner.run(
                    input=json.dumps(request), function_name="RunnerFunction", execution_name=request["run_id"]
                )
                if result.status.name != "SUCCEEDED":
                    raise RuntimeError(f"the sample run did not succeed on the harness: {result.error}")
        boto3.DEFAULT_SESSION.events.unregister("after-call.*.*", keep)
    if not any(service == "sns" for service, _ in answers):
        raise RuntimeError("the sample run notified nobody: the recording is not the sample's run")
    return dict(answers)


def measure(runs: int, against: Path | None = None) -> list[Readings]:
    """``runs`` rounds of a child per checkout (this one, then ``against``)."""
    checkouts = [Readings("this checkout", REPO)]
    if against is not None:
        checkouts.append(Readings(f"{against}", against.resolve()))
    runs_of = requests()
    answers = record(runs_of)
    base = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG", "TZ")}
    env = {**base, **AWS_ENVIRONMENT, **function_environment("RunnerFunction")}
    with tempfile.TemporaryDirectory() as folder:
        answers_file, requests_file = Path(folder) / "answers.pickle", Path(folder) / "requests.json"
        answers_file.write_bytes(pickle.dumps(answers))
        requests_file.write_text(json.dumps(runs_of))
        codes = [
            _CHILD.format(
                paths=[str(c.root / "functions" / "runner"), str(c.root / "layers" / "shared" / "python")],
                answers=str(answers_file),
                requests=str(requests_file),
            )
            for c in checkouts
        ]
        for code in codes:  # untimed: writes the bytecode cache, as a deployed package ships it
            run_child(code, env)
        for _ in range(runs):
            for checkout, code in zip(checkouts, codes, strict=True):
                checkout.add(run_child(code, env))
    return checkouts


def main(argv: Sequence[str] | None = None) -> list[Readings]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=5, help="fresh children of each checkout, median counts (default 5)"
    )
    parser.add_argument("--against", type=Path, help="another checkout of this repository, measured the same way")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.against is not None and not (args.against / "functions" / "runner" / "app.py").is_file():
        parser.error(f"{args.against} has no functions/runner/app.py")
    found = measure(args.runs, args.against)
    print(
        f"runner, fresh process: import, then {SAMPLE.name} twice (AWS answered in-process); "
        f"CPU ms and peak RSS MB, median of {args.runs}:"
    )
    print(
        f"  {'':<22} {'import':>7} {'first run':>10} {'import+first':>13} {'second run':>11}"
        f" {'MB after import':>16} {'after runs':>11}"
    )
    for checkout in found:
        imported, first, second = (
            statistics.median(r) * 1e3 for r in (checkout.imported, checkout.first, checkout.second)
        )
        import_mb, runs_mb = statistics.median(checkout.import_mb), statistics.median(checkout.runs_mb)
        print(
            f"  {checkout.name[-22:]:<22} {imported:>7.0f} {first:>10.0f} {imported + first:>13.0f} {second:>11.0f}"
            f" {import_mb:>16.1f} {runs_mb:>11.1f}"
        )
    return found


if __name__ == "__main__":
    main()
