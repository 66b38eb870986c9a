"""Cold start of every Lambda function: import time and memory, against ``import boto3``.

For each function template.yaml declares (api, dispatcher, runner, webhooks), a fresh interpreter
(``python -I``) imports its ``app`` as Lambda does: the function's folder first on ``sys.path``,
the shared layer next (and botocore as the layer ships it, its data slimmed at build:
``layers/shared/slim_botocore.py``), the environment template.yaml gives it (Globals included; deployed names
and ARNs stand in as their logical ids), fake credentials and an endpoint on 127.0.0.1 where
nothing listens, so nothing can leave the machine. Each child reports the wall and CPU time of
the import statement alone (interpreter start-up excluded) and its peak RSS after it. The
baseline child imports ``boto3`` the same way. Bytecode is cached (one untimed import of each
first); the children run round-robin, ``--runs`` rounds; medians count.

``--tracer`` measures each function twice, both as on Lambda (``LAMBDA_TASK_ROOT`` set): with
tracing (``runtime.trace_aws_calls``: powertools' Tracer, boto3 patched) and with
``POWERTOOLS_TRACE_DISABLED=true``, which the handlers honour by not importing the tracing SDK at
all. Without ``--tracer`` the functions import as off Lambda: untraced.

Run from the repository root:  python bench/cold_start.py [--runs N] [--functions dispatcher ...] [--tracer]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import LAYER
from bench.measure import REPO, function_environment, functions, layer_botocore

BASELINE = "import boto3"
# Peak RSS from /proc (VmHWM): getrusage's ru_maxrss of a child starts at its parent's size when
# forked, so it would report this bench's own footprint for every child below it.
_CHILD = """
import json, re, resource, sys, time
sys.path[:0] = {paths!r}
def peak_kb():
    try:
        return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
    except (OSError, AttributeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
wall, cpu = time.perf_counter(), time.process_time()
{statement}
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({{"wall": wall, "cpu": cpu, "rss_kb": peak_kb()}}))
"""
AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # the discard port: an import that called AWS would fail here
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
}


@dataclass
class Child:
    """One kind of fresh interpreter: what it imports, from where, with which environment."""

    name: str
    statement: str
    paths: list[str]
    env: dict[str, str]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)

    def run(self) -> None:
        code = _CHILD.format(paths=self.paths, statement=self.statement)
        out = subprocess.run(
            [sys.executable, "-I", "-c", code], env=self.env, capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            raise RuntimeError(f"importing {self.name} failed:\n{out.stderr[-2000:]}")
        reading = json.loads(out.stdout.strip().splitlines()[-1])
        self.wall.append(reading["wall"])
        self.cpu.append(reading["cpu"])
        self.rss_mb.append(reading["rss_kb"] / 1024)


def children(names: Sequence[str] | None = None, tracer: bool = False) -> list[Child]:
    """The boto3 baseline, then each function (all, or those named by folder: api, dispatcher…),
    with ``tracer`` each untraced and traced, as on Lambda."""
    base = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG", "TZ")}
    # botocore as the layer ships it (its data slimmed at build): what a function's clients load.
    botocore = layer_botocore()
    found = [Child("import boto3", "import boto3", [botocore], {**base, **AWS_ENVIRONMENT})]
    for logical_id, code_uri in sorted(functions().items(), key=lambda item: item[1]):
        folder = Path(code_uri).name
        if names and folder not in names:
            continue
        env = {**base, **AWS_ENVIRONMENT, **function_environment(logical_id)}
        paths = [str(REPO / code_uri), LAYER, botocore]
        if not tracer:
            found.append(Child(folder, "import app", paths, env))
            continue
        on_lambda = {**env, "LAMBDA_TASK_ROOT": str(REPO / code_uri)}
        found.append(Child(folder, "import app", paths, {**on_lambda, "POWERTOOLS_TRACE_DISABLED": "true"}))
        found.append(Child(f"{folder} +tracer", "import app", paths, on_lambda))
    if names and len({Path(c).name for c in functions().values()} & set(names)) != len(set(names)):
        known = sorted(Path(c).name for c in functions().values())
        raise SystemExit(f"unknown function in {list(names)}; the template has {known}")
    return found


def measure(runs: int, names: Sequence[str] | None = None, tracer: bool = False) -> list[Child]:
    found = children(names, tracer)
    for child in found:  # untimed: writes the bytecode cache, as a deployed package ships it
        child.run()
        child.wall, child.cpu, child.rss_mb = [], [], []
    for _ in range(runs):
        for child in found:
            child.run()
    return found


def main(argv: Sequence[str] | None = None) -> list[Child]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh imports of each, median counts (default 7)")
    parser.add_argument("--functions", nargs="*", help="function folders to measure (default: all in template.yaml)")
    parser.add_argument("--tracer", action="store_true", help="each function untraced and traced, as on Lambda")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    found = measure(args.runs, args.functions, args.tracer)

    baseline = found[0]
    base = [statistics.median(readings) for readings in (baseline.wall, baseline.cpu, baseline.rss_mb)]
    print(f"cold import, fresh interpreter each, median of {args.runs} (bytecode cached); ratio to `{BASELINE}`:")
    print(f"  {'':<22} {'wall ms':>8} {'ratio':>6} {'CPU ms':>8} {'ratio':>6} {'peak RSS MB':>12} {'ratio':>6}")
    for child in found:
        wall, cpu, rss = (statistics.median(readings) for readings in (child.wall, child.cpu, child.rss_mb))
        print(
            f"  {child.name:<22} {wall * 1e3:>8.0f} {wall / base[0]:>5.2f}x {cpu * 1e3:>8.0f} {cpu / base[1]:>5.2f}x"
            f" {rss:>12.1f} {rss / base[2]:>5.2f}x"
        )
    return found


if __name__ == "__main__":
    main()
