"""template.yaml through the SAM translator, offline: the CloudFormation AWS would deploy.

The translator is what expands ``DynamoDBCrudPolicy`` and friends into IAM statements and gives
every function its role, so the IAM contract (``dealflow.local.iam``) reads roles from its output
rather than from the SAM source. Offline means: code locations become ``s3://`` URIs (the only
kind the translator accepts), the region is pinned for the call, and AWS managed policy names are
resolved from a static map instead of an IAM ``ListPolicies`` call.
"""

from __future__ import annotations

import copy
import os
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

from dealflow.local.cfn_yaml import load_template

# Code locations become S3 URIs: the translator accepts only those (or dicts) for CodeUri/ContentUri.
_CODE_URI_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


class StaticPolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader, which lists AWS managed policies via IAM.

    The translator asks for this map only for policy *names* listed under ``Policies``; the roles'
    own managed policies (basic / durable execution, X-Ray, DynamoDB stream) are built from names
    without a lookup. The map still holds them so ``Policies: [AWSXrayWriteOnlyAccess]`` resolves.
    """

    _NAMES = {
        "AWSLambdaBasicExecutionRole": "service-role/",
        "AWSLambdaBasicDurableExecutionRolePolicy": "service-role/",
        "AWSLambdaDynamoDBExecutionRole": "service-role/",
        "AWSLambdaSQSQueueExecutionRole": "service-role/",
        "AWSXrayWriteOnlyAccess": "",
        "AWSXRayDaemonWriteAccess": "",
    }

    def load(self) -> dict[str, str]:
        return {name: f"arn:aws:iam::aws:policy/{path}{name}" for name, path in self._NAMES.items()}


def with_s3_code_uris(template: dict[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(template)
    for logical_id, resource in template.get("Resources", {}).items():
        prop = _CODE_URI_PROPERTIES.get(resource.get("Type"))
        if prop and isinstance(resource.get("Properties", {}).get(prop), str):
            resource["Properties"][prop] = f"s3://dealflow-artifacts/{logical_id}.zip"
    return template


def translate(template: dict[str, Any], parameters: dict[str, str], region: str) -> dict[str, Any]:
    """SAM -> CloudFormation, offline. Raises samtranslator's InvalidDocumentException on SAM errors.

    The translator needs a region: boto3's (AWS_DEFAULT_REGION) for pseudo parameters, and for the
    partition in ARNs one it caches per process unless ArnGenerator has one pinned. Both are set
    for the duration of the call only, so moto and other tests keep their own environment.
    """
    from samtranslator.translator.arn_generator import ArnGenerator  # dev-only dependency
    from samtranslator.translator.transform import transform

    previous = ArnGenerator.BOTO_SESSION_REGION_NAME
    ArnGenerator.BOTO_SESSION_REGION_NAME = region
    try:
        with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": region}):
            translated: dict[str, Any] = transform(with_s3_code_uris(template), dict(parameters), StaticPolicyLoader())
            return translated
    finally:
        ArnGenerator.BOTO_SESSION_REGION_NAME = previous


@cache
def _source(path: str, modified_ns: int) -> dict[str, Any]:
    return load_template(path)


@cache
def _translated(path: str, modified_ns: int, parameters: tuple[tuple[str, str], ...], region: str) -> dict[str, Any]:
    return translate(_source(path, modified_ns), dict(parameters), region)


def source_file(path: Path) -> dict[str, Any]:
    """The SAM template at ``path``, parsed once per process and file version (read-only)."""
    return _source(str(path), path.stat().st_mtime_ns)


def translated_file(path: Path, parameters: dict[str, str], region: str) -> dict[str, Any]:
    """The translated template at ``path``, translated once per process and file version.

    Shared between callers: treat it as read-only (copy it before changing anything).
    """
    return _translated(str(path), path.stat().st_mtime_ns, tuple(sorted(parameters.items())), region)
