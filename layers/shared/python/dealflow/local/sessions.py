"""boto3 sessions for the harness, sharing one botocore data loader per process.

A boto3 session parses the JSON service models of every client it makes (DynamoDB's, its endpoint
rules, the partitions), and moto's mock replaces boto3's default session each time it starts, so a
process that starts many stacks (a test session starts hundreds) parsed the same files again for
each one: most of a stack's start-up, and most of the garbage the collector then has to walk. The
loader caches only botocore's and boto3's read-only data files; credentials, region and endpoint
stay per session, so sharing it carries nothing from one stack to the next.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import botocore.session
from botocore.loaders import Loader, create_loader

_BOTO3_DATA = str(Path(boto3.__file__).parent / "data")
_loader: Loader | None = None


def _shared_loader() -> Loader:
    global _loader
    if _loader is None:
        _loader = create_loader()
    return _loader


def new_session() -> boto3.session.Session:
    """A fresh boto3 session (it reads credentials and region from the environment as any does)
    whose service models come from the process's shared loader."""
    core = botocore.session.get_session()
    loader = _shared_loader()
    core.register_component("data_loader", loader)
    session = boto3.session.Session(botocore_session=core)
    # Each boto3 session appends its data folder to the loader's search path: keep one entry.
    paths = loader.search_paths
    while paths.count(_BOTO3_DATA) > 1:
        paths.remove(_BOTO3_DATA)
    return session
