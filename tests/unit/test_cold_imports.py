"""The dispatcher's cold start imports only what its per-record path uses: the models, the stores,
the reference checks with Jinja2 and email-validator load with its first automation, not when
Lambda imports the handler (bench/cold_start.py measures what that saves)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench import LAYER
from bench.cold_start import AWS_ENVIRONMENT
from bench.measure import REPO, function_environment

# Loaded by the first batch, never by the import.
LATER = ("dealflow.model", "dealflow.store.automation", "dealflow.engine.references", "jinja2", "email_validator")


def test_importing_the_dispatcher_loads_no_models_stores_or_templates() -> None:
    code = (
        f"import json, sys; sys.path[:0] = {[str(REPO / 'functions' / 'dispatcher'), LAYER]!r}; import app; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        **AWS_ENVIRONMENT,
        **function_environment("DispatcherFunction"),
    }
    out = subprocess.run([sys.executable, "-I", "-c", code], env=env, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])

    assert "dealflow.engine.dispatch" in loaded and "boto3" in loaded  # the handler is really there
    assert [m for m in loaded if m.startswith(LATER)] == []
