"""The benches' instruments: CPU time of alternating passes, peak RSS, a function's environment
as template.yaml sets it."""

from __future__ import annotations

import atexit
import gc
import importlib.util
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from dealflow.local.cfn_yaml import load_template

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "template.yaml"


def cpu_time(body: Callable[[], T]) -> tuple[float, T]:
    """CPU seconds of one call (every thread of the process), and what it returned."""
    gc.collect()
    start = time.process_time()
    result = body()
    return time.process_time() - start, result


def alternate(bodies: Mapping[str, Callable[[], T]], repeat: int) -> dict[str, tuple[float, T]]:
    """Each body's best CPU time over ``repeat`` rounds, and what its first call returned. Within a
    round every body runs once, in turn, so a noisy neighbour on a shared machine hits them all."""
    best: dict[str, tuple[float, T]] = {}
    for _ in range(repeat):
        for name, body in bodies.items():
            seconds, result = cpu_time(body)
            if name in best:
                best[name] = (min(seconds, best[name][0]), best[name][1])
            else:
                best[name] = (seconds, result)
    return best


# ---- memory ---------------------------------------------------------------------------------


def _status_kb(key: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def reset_peak_rss() -> bool:
    """Start a new peak-RSS window (Linux: write 5 to /proc/self/clear_refs); False where the
    peak cannot be reset and ``peak_rss_mb`` reports the process's lifetime peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """Peak resident memory since the last reset (else since the process started), in MB."""
    peak_kb = _status_kb("VmHWM")
    if peak_kb is None:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return peak_kb / 1024


def rss_mb() -> float:
    """Resident memory now, in MB (the peak so far where /proc is missing)."""
    now_kb = _status_kb("VmRSS")
    return now_kb / 1024 if now_kb is not None else peak_rss_mb()


# ---- a function's environment ---------------------------------------------------------------


def _placeholder(value: Any, parameters: Mapping[str, Any]) -> str:
    """A literal as is; a !Ref to a parameter as its default; anything else deployed (a table
    name, an ARN) as the logical id it names, which is all importing a handler needs."""
    if not isinstance(value, dict):
        return str(value)
    if "Ref" in value:
        name = str(value["Ref"])
        return str(parameters.get(name, {}).get("Default", name))
    if "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return ".".join(target) if isinstance(target, list) else str(target)
    return "placeholder"


def function_environment(logical_id: str, template: Path = TEMPLATE) -> dict[str, str]:
    """The environment variables template.yaml gives a function (Globals first)."""
    data = load_template(template)
    parameters = data.get("Parameters", {})
    variables = {
        **data.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}),
        **data["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    return {name: _placeholder(value, parameters) for name, value in variables.items()}


def stream_batch_size(template: Path = TEMPLATE) -> int:
    """The dispatcher's stream mapping BatchSize: the most records one invocation gets."""
    events = load_template(template)["Resources"]["DispatcherFunction"]["Properties"]["Events"]
    return int(next(e["Properties"]["BatchSize"] for e in events.values() if e["Type"] == "DynamoDB"))


def functions(template: Path = TEMPLATE) -> dict[str, str]:
    """Every Lambda function in the template: its code folder (functions/<name>) by logical id."""
    found = {}
    for logical_id, resource_ in load_template(template)["Resources"].items():
        if resource_.get("Type") == "AWS::Serverless::Function":
            found[logical_id] = str(resource_["Properties"]["CodeUri"]).rstrip("/")
    return found


def run_child(code: str, env: dict[str, str]) -> dict[str, Any]:
    """``code`` in a fresh isolated interpreter (``python -I``) with ``env``; its reading, the JSON
    object its last line of output prints. A child that fails stops the bench with what it said."""
    out = subprocess.run([sys.executable, "-I", "-c", code], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the child failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    reading: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return reading


@cache
def layer_botocore() -> str:
    """A copy of the installed botocore with its data slimmed as the layer's build slims it
    (``layers/shared/slim_botocore.py``): put first on a child's ``sys.path``, the child's clients
    load AWS data as the deployed functions do. Made once per bench run, removed at its exit."""
    import botocore

    folder = tempfile.mkdtemp(prefix="dealflow-layer-botocore-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    shutil.copytree(Path(botocore.__file__).parent, Path(folder) / "botocore")
    slimming().slim(Path(folder) / "botocore")
    return folder


@cache
def slimming() -> ModuleType:
    """``layers/shared/slim_botocore.py``, the layer build's script, as a module."""
    spec = importlib.util.spec_from_file_location("slim_botocore", REPO / "layers" / "shared" / "slim_botocore.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
