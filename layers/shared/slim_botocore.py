"""Slim the layer's botocore data to what the functions load: run by the Makefile after pip.

Every client a function builds loads botocore's ``endpoints.json`` (every service in every
region: 1.25 MB of JSON, 7 MB once parsed) and its service's model, three quarters of which is
documentation (DynamoDB's: 3.8 MB parsed). Neither is ever read on Lambda beyond the few services
the functions call, and the documentation not at all (it feeds docstrings). So, in the layer's
copy of botocore only (the tests and the local harness use an untouched one):

- ``endpoints.json`` keeps every partition as it is (regions, defaults, DNS suffixes) but only
  the entries of the services in ``SERVICES``. A client of any other service resolves as one of
  a service newer than the file does: by its endpoint rule set. The file stays where botocore
  looks for its own data, so botocore still treats it as its built-in data (an ``endpoints.json``
  elsewhere, through ``AWS_DATA_PATH``, would change how it resolves every endpoint).
- the models of those services lose their ``documentation`` strings; nothing else changes.

The dispatcher's peak memory over a batch drops by about 9 MB, and every client builds faster
(bench/README.md). ``tests/unit/test_slim_botocore.py`` checks that every endpoint of these
services resolves as before, in every region of every partition, that each model is the same
but for its documentation, and that the functions' code builds clients of these services only.

Usage:  python slim_botocore.py <botocore package directory>
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

# The services the functions build clients of (``dealflow.runtime``, ``functions/*/app.py``, the
# durable execution SDK's Lambda client, powertools' SSM provider).
SERVICES = frozenset({"dynamodb", "lambda", "sesv2", "sns", "sqs", "ssm"})


def without_documentation(value: Any) -> Any:
    """A service model (or any part of it) with every ``documentation`` string left out."""
    if isinstance(value, dict):
        return {
            key: without_documentation(item)
            for key, item in value.items()
            if not (key == "documentation" and isinstance(item, str))
        }
    if isinstance(value, list):
        return [without_documentation(item) for item in value]
    return value


def endpoints_of(endpoints: dict[str, Any], prefixes: set[str]) -> dict[str, Any]:
    """``endpoints.json`` with only the services of these endpoint prefixes, in every partition."""
    partitions = [
        {**partition, "services": {name: s for name, s in partition["services"].items() if name in prefixes}}
        for partition in endpoints["partitions"]
    ]
    return {**endpoints, "partitions": partitions}


def _read(path: Path) -> Any:
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text(encoding="utf-8")
    return json.loads(text)


def _write(path: Path, data: Any) -> None:
    text = json.dumps(data, separators=(",", ":"))
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")


def service_models(data: Path, service: str) -> list[Path]:
    """Every ``service-2`` model of a service (one per API version), as botocore ships it."""
    names = ("service-2.json", "service-2.json.gz")
    return sorted(path for path in (data / service).glob("*/service-2.json*") if path.name in names)


def slim(botocore_dir: Path, services: frozenset[str] = SERVICES) -> dict[str, int]:
    """Slim the data of the botocore package at ``botocore_dir`` in place; bytes before and after."""
    data = botocore_dir / "data"
    before = after = 0
    prefixes: set[str] = set()
    for service in sorted(services):
        models = service_models(data, service)
        if not models:
            raise SystemExit(f"botocore at {botocore_dir} has no model of '{service}'")
        for path in models:
            model = _read(path)
            prefixes.add(model["metadata"]["endpointPrefix"])
            before += path.stat().st_size
            _write(path, without_documentation(model))
            after += path.stat().st_size
    endpoints = data / "endpoints.json"
    before += endpoints.stat().st_size
    _write(endpoints, endpoints_of(_read(endpoints), prefixes))
    after += endpoints.stat().st_size
    return {"before": before, "after": after}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.splitlines()[-1])
    sizes = slim(Path(sys.argv[1]))
    print(f"botocore data slimmed: {sizes['before']:,} -> {sizes['after']:,} bytes")
