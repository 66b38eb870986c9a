"""The metrics port on powertools' CloudWatch EMF provider: what a function counted during one
invocation, printed as Embedded Metric Format documents that CloudWatch Logs turns into metrics
(no API call, no extra permission, no added latency).

Counts are summed per metric and dimension set until ``flush``, so a batch of 100 stream records
prints a handful of documents, not 100. Each document carries two dimension sets: its own
(function, kind, outcome, ...) and none at all, so one alarm can watch a total ("runs failed",
whatever the function or kind) without a metric-math expression per combination.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from typing import Any

from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

NAMESPACE = "Dealflow"
_PER_DOCUMENT = 99

Dimensions = tuple[tuple[str, str], ...]


class EmfMetrics:
    def __init__(self, function: str, namespace: str = NAMESPACE) -> None:
        self.function, self.namespace = function, namespace
        self._counts: dict[Dimensions, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._measures: dict[Dimensions, dict[tuple[str, str], list[float]]] = defaultdict(lambda: defaultdict(list))
        # Lambda runs one invocation per container at a time, but a process running several
        # functions' handlers (the local harness, its runs in threads) must not lose or tear counts.
        self._lock = threading.Lock()

    def _key(self, dimensions: dict[str, str]) -> Dimensions:
        return tuple(sorted({"function": self.function, **dimensions}.items()))

    def count(self, name: str, value: int = 1, **dimensions: str) -> None:
        with self._lock:
            self._counts[self._key(dimensions)][name] += value

    def measure(self, name: str, value: float, unit: str, **dimensions: str) -> None:
        with self._lock:
            self._measures[self._key(dimensions)][name, unit].append(value)

    def documents(self) -> list[dict[str, object]]:
        """The EMF documents ``flush`` prints, one per dimension set (more when it holds over 99
        values, powertools' limit before it prints on its own); forgets what they hold."""
        with self._lock:
            counts, measures = self._counts, self._measures
            self._counts, self._measures = (
                defaultdict(lambda: defaultdict(float)),
                defaultdict(lambda: defaultdict(list)),
            )
        documents = []
        for key in sorted({*counts, *measures}):
            entries = [(name, "Count", total) for name, total in counts.get(key, {}).items()]
            entries += [(n, unit, v) for (n, unit), values in measures.get(key, {}).items() for v in values]
            for start in range(0, len(entries), _PER_DOCUMENT):
                documents.append(self._document(key, entries[start : start + _PER_DOCUMENT]))
        return documents

    def _document(self, key: Dimensions, entries: list[tuple[str, str, float]]) -> dict[str, object]:
        # service="" keeps POWERTOOLS_SERVICE_NAME out of the dimensions: "function" says it.
        provider = AmazonCloudWatchEMFProvider(namespace=self.namespace, service="")
        for dimension, label in key:
            provider.add_dimension(dimension, label)
        added: set[str] = set()
        for name, unit, value in entries:
            if name in added:
                # Checked once per metric: powertools' add_metric also formats the whole metric
                # for a debug line on every value (a dispatcher's batch measures 100 lags).
                provider.metric_set[name]["Value"].append(float(value))
            else:
                provider.add_metric(name=name, unit=unit, value=value)
                added.add(name)
        document: dict[str, Any] = dict(provider.serialize_metric_set())
        document["_aws"]["CloudWatchMetrics"][0]["Dimensions"].append([])
        return document

    def flush(self) -> None:
        documents = self.documents()
        if is_metrics_disabled():  # POWERTOOLS_METRICS_DISABLED: the local harness's quiet mode
            return
        for document in documents:
            print(json.dumps(document, separators=(",", ":")), flush=True)
