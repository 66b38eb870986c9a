"""Session-wide settings for the whole suite (each pytest-xdist worker is its own session), and
the IAM contract's summary (calls judged, grants no call used) after the run.

Every closed MotoStack adds to ``dealflow.local.iam_report.SESSION``. Under pytest-xdist each worker
saves its share in a directory the controller made (passed on in the environment, which the
workers inherit), and the controller merges the shares for the terminal summary.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from dealflow.local.iam_report import SESSION, USAGE_DIR_ENV, Usage
from dealflow.local.replay import ENV as REPLAY_TWICE

_OWNED = pytest.StashKey[Path]()


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    # Replay twice (dealflow.local.replay): every local run replayed in another process with other
    # hash and random seeds, so a run that would replay differently on AWS fails its test here.
    # Set DEALFLOW_REPLAY_TWICE=0 to look at a failure without it.
    os.environ.setdefault(REPLAY_TWICE, "1")
    if not _is_worker(config) and USAGE_DIR_ENV not in os.environ:
        directory = Path(tempfile.mkdtemp(prefix="dealflow-iam-"))
        os.environ[USAGE_DIR_ENV] = str(directory)
        config.stash[_OWNED] = directory


def pytest_sessionfinish(session: pytest.Session) -> None:
    directory = os.environ.get(USAGE_DIR_ENV)
    if directory and SESSION.calls:
        worker = getattr(session.config, "workerinput", {}).get("workerid", "main")
        SESSION.save(Path(directory) / f"{worker}-{os.getpid()}.json")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    directory = os.environ.get(USAGE_DIR_ENV)
    if _is_worker(config) or not directory:
        return
    lines = Usage.load(Path(directory)).summary()
    if lines:
        terminalreporter.section("IAM contract (template.yaml)")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    directory = config.stash.get(_OWNED, None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)
        os.environ.pop(USAGE_DIR_ENV, None)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reverse",
        action="store_true",
        help="run the tests in reverse order: a test that passes only after another one shows up",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--reverse"):
        items.reverse()


def pytest_collection_finish(session: pytest.Session) -> None:
    # By now botocore, moto, pydantic, schemathesis and the tests themselves are imported and live
    # as long as the session: leave them out of every later collection. Each integration test then
    # makes and drops a whole moto stack, so collect less often too. Together this took the
    # collector from a quarter of the suite's CPU time to a tenth; it changes no outcome.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
