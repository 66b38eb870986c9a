"""The runner's first-run bench runs (bench/runner_first_run.py): its children import the runner,
run the sample request twice on the answers recorded from the harness, and use every answer."""

from __future__ import annotations

import pytest

from bench import runner_first_run


def test_the_first_run_bench_runs_the_sample_twice_in_a_fresh_process(capsys: pytest.CaptureFixture[str]) -> None:
    [found] = runner_first_run.main(["--runs", "1"])

    assert (len(found.imported), len(found.first), len(found.second)) == (1, 1, 1)
    printed = capsys.readouterr().out
    assert "runner-start.json twice" in printed and "this checkout" in printed


def test_the_bench_refuses_a_folder_that_is_no_checkout(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        runner_first_run.main(["--against", str(tmp_path)])
    assert "has no functions/runner/app.py" in capsys.readouterr().err
