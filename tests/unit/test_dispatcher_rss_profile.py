"""``bench/dispatcher_rss.py --profile``: where the dispatcher's first batch spends its memory (the
figures are bench/README.md's; here only that the profile runs and names its parts)."""

from __future__ import annotations

import pytest

from bench import dispatcher_rss


def test_the_profile_names_the_modules_a_batch_loads_and_what_each_part_adds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    arguments = ["--rules", "20", "--batch-size", "10", "--runs", "1", "--profile"]
    _, dispatcher, _, expected = dispatcher_rss.main(arguments)

    assert dispatcher.started == [expected] and expected > 0
    # Reading the tenant's automation is what the first batch loads beyond the import.
    assert "dealflow.store.automation" in dispatcher.profile["modules"]
    labels = [label for label, _ in dispatcher.profile["stages"]]
    assert labels[0] == "after the import" and labels[-1].startswith("the batch")
    assert "DynamoDB resource and client" in labels and "read again and compiled (load)" in labels
    printed = capsys.readouterr().out
    assert "where the batch's memory goes" in printed and "DynamoDB resource and client" in printed


def test_modules_are_grouped_libraries_first_then_dealflow_bottom_up() -> None:
    groups = dispatcher_rss.module_groups(
        ["dealflow.store.automation", "pydantic", "dealflow.model.base", "jinja2.nodes", "dealflow.engine.compiled"]
    )

    assert [label for label, _ in groups] == [
        "pydantic",
        "jinja2",
        "dealflow.model",
        "dealflow.engine",
        "dealflow.store",
    ]
