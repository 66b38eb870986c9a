"""The layer bundles the AWS SDK the tests run with: pinned, and to these versions."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parents[2] / "layers" / "shared" / "requirements.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if "==" in requirement:
            name, pinned = requirement.split("==", 1)
            pins[name.split("[", 1)[0].strip().lower()] = pinned.strip()
    return pins


def test_the_layer_bundles_the_boto3_and_botocore_the_tests_run_with() -> None:
    pins = _pins()
    assert (pins.get("boto3"), pins.get("botocore")) == (version("boto3"), version("botocore"))
