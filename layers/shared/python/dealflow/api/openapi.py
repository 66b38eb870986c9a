"""The management API's OpenAPI document, generated from the code.

    python -m dealflow.api.openapi > openapi.json

regenerates the copy committed at the repository root (a test fails while they differ)."""

from __future__ import annotations

import json
import sys
from typing import Any


def _no_deps() -> Any:
    raise RuntimeError("generating the document reads no storage")


def document() -> dict[str, Any]:
    from dealflow.api.resolver import build_resolver, openapi_document

    return openapi_document(build_resolver(_no_deps))


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
