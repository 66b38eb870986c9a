"""The metrics the functions publish: EMF documents CloudWatch accepts (one per dimension set,
each with a no-dimension total for the alarms), and counts taken where effects and starts happen."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from dealflow.aws.metrics import EmfMetrics
from dealflow.engine.signals import CountedMailer, CountedStarter, count_run_end
from tests.fakes import FakeMetrics


def test_counts_are_summed_per_dimension_set_and_printed_once_per_flush(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = EmfMetrics("dispatcher")
    for _ in range(3):
        metrics.count("RunsStarted", kind="rule")
    metrics.count("RunsStarted", kind="process")
    metrics.measure("DispatcherLag", 1500, "Milliseconds")
    metrics.flush()
    metrics.flush()  # nothing new: nothing printed

    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(documents) == 3
    by_kind = {d.get("kind"): d for d in documents}
    assert by_kind["rule"]["RunsStarted"] == [3.0] and by_kind["process"]["RunsStarted"] == [1.0]
    assert by_kind[None]["DispatcherLag"] == [1500.0]
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Dealflow"
        assert document["function"] == "dispatcher"
        assert directive["Dimensions"][-1] == []  # the total, whatever the kind
        assert "service" not in directive["Dimensions"][0]


def test_more_values_than_one_document_takes_are_split(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = EmfMetrics("dispatcher")
    for lag in range(150):
        metrics.measure("DispatcherLag", lag, "Milliseconds")
    metrics.flush()

    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(v for d in documents for v in d["DispatcherLag"]) == [float(v) for v in range(150)]
    assert all(len(d["DispatcherLag"]) < 100 for d in documents)


def test_disabled_metrics_print_nothing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics = EmfMetrics("runner")
    metrics.count("RunsFailed", kind="rule")
    metrics.flush()
    assert capsys.readouterr().out == ""


class _Starter:
    def __init__(self) -> None:
        self.names: set[str] = set()

    def start(self, request: object) -> bool:
        name = request.run_id  # type: ignore[attr-defined]
        fresh = name not in self.names
        self.names.add(name)
        return fresh

    def stop(self, execution_id: str) -> bool:
        return True


def test_a_run_started_twice_is_counted_once() -> None:
    metrics = FakeMetrics()
    starter = CountedStarter(_Starter(), metrics)
    request = SimpleNamespace(run_id="run-1", automation=SimpleNamespace(kind="tunnel"))
    assert starter.start(request) is True  # type: ignore[arg-type]
    assert starter.start(request) is False  # type: ignore[arg-type]
    assert metrics.total("RunsStarted", kind="tunnel") == 1


def test_an_email_the_provider_refused_is_not_counted() -> None:
    class Refusing:
        def send(self, *, sender: str, to: list[str], subject: str, body: str, **headers: str | None) -> str:
            raise RuntimeError("throttled")

    metrics = FakeMetrics()
    with pytest.raises(RuntimeError):
        CountedMailer(Refusing(), metrics).send(sender="a@x.example", to=["b@x.example"], subject="s", body="b")
    assert metrics.total("Effects") == 0


def test_a_run_ending_is_counted_by_its_status() -> None:
    metrics = FakeMetrics()
    for status in ("completed", "failed", "stopped", "cancelled"):
        count_run_end(metrics, "rule", status)
    assert metrics.total("RunsCompleted", kind="rule") == 1
    assert metrics.total("RunsFailed", kind="rule") == 1
    assert metrics.total("RunsStopped", outcome="cancelled") == 1
    assert metrics.total("RunsStopped") == 2
