"""Given stale and healthy requests in Cloud Control, when an operator runs ``cc-reaper sweep``,
then a dry run cancels nothing and says what it would cancel, and a confirmed run cancels exactly
the stale ones, through the Lambda's own service and audit."""

from __future__ import annotations

import json

HOURS = 3600


def test_a_dry_run_sweep_cancels_nothing_and_reports_what_it_would_cancel(cli, stack, emulator):
    stale = set(emulator.seed(3, age_seconds=7 * HOURS))
    emulator.seed(1, age_seconds=HOURS)

    result = cli("--json", "sweep")

    assert result.code == 0, result.err
    (report,) = result.json_lines()
    assert report["dryRun"] is True
    assert report["listed"] == 4
    assert report["outcomes"] == {"dry_run": 3, "not_stale": 1}
    assert {d["token"] for d in report["decisions"]} == stale
    assert emulator.snapshot().cancelled == []
    audited = stack.decisions()
    assert {d["token"] for d in audited} == stale
    assert {(d["outcome"], d["dry_run"]) for d in audited} == {("dry_run", True)}


def test_the_dry_run_table_names_each_request_and_how_to_cancel(cli, emulator):
    (stale,) = emulator.seed(1, type_name="AWS::Logs::LogGroup", age_seconds=7 * HOURS)

    result = cli("sweep")

    assert result.code == 0, result.err
    assert stale in result.out
    assert "AWS::Logs::LogGroup" in result.out
    assert "would cancel (dry run)" in result.out
    assert "Dry run: nothing was cancelled; 1 request(s) would be" in result.out


def test_a_confirmed_sweep_cancels_the_stale_requests_and_nothing_else(cli, stack, emulator):
    stale = set(emulator.seed(3, age_seconds=7 * HOURS))
    young = emulator.seed(2, age_seconds=HOURS)
    (database,) = emulator.seed(1, type_name="AWS::RDS::DBInstance", age_seconds=7 * HOURS)

    result = cli("--json", "sweep", "--no-dry-run", "--yes")

    assert result.code == 0, result.err
    state = emulator.snapshot()
    assert set(state.cancelled) == stale
    assert {state.requests[t].status for t in stale} == {"CANCEL_COMPLETE"}
    assert {state.requests[t].status for t in [*young, database]} == {"IN_PROGRESS"}
    (report,) = result.json_lines()
    assert report["outcomes"] == {"cancel_complete": 3, "not_stale": 3}
    assert {d["outcome"] for d in stack.decisions()} == {"cancel_complete"}


def test_no_dry_run_without_yes_refuses_when_nobody_can_answer(cli, emulator):
    emulator.seed(2, age_seconds=7 * HOURS)

    result = cli("sweep", "--no-dry-run")

    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "cc-reaper: error: --no-dry-run cancels requests: add --yes to confirm"
    ]
    assert emulator.snapshot().cancelled == []


def test_policy_flags_mirror_the_config(cli, emulator):
    (bucket,) = emulator.seed(1, age_seconds=7 * HOURS)
    queues = set(emulator.seed(2, type_name="AWS::SQS::Queue", age_seconds=3 * HOURS))

    result = cli(
        "--json",
        "sweep",
        "--no-dry-run",
        "--yes",
        "--exclude",
        "AWS::S3::*",
        "--rule",
        "AWS::SQS::*=120",
        "--max-cancellations",
        "1",
    )

    assert result.code == 0, result.err
    (report,) = result.json_lines()
    assert report["outcomes"] == {"cancel_complete": 1, "deferred_cap": 1, "filtered": 1}
    (cancelled,) = emulator.snapshot().cancelled
    assert cancelled in queues and cancelled != bucket


def test_a_config_file_is_the_lambdas_reaper_config(cli, emulator, tmp_path):
    emulator.seed(2, age_seconds=2 * HOURS)
    config = tmp_path / "reaper.json"
    config.write_text(json.dumps({"default_threshold_minutes": 60, "dry_run": False}))

    result = cli("--json", "sweep", "--config", str(config))

    # The file's dry_run is overridden: only --no-dry-run cancels from the CLI.
    (report,) = result.json_lines()
    assert report["dryRun"] is True
    assert report["outcomes"] == {"dry_run": 2}


def test_an_invalid_config_is_one_line_naming_the_field(cli, emulator, tmp_path):
    config = tmp_path / "reaper.json"
    config.write_text(json.dumps({"default_threshold_minutes": 1}))

    result = cli("sweep", "--config", str(config))

    assert result.code == 2
    (line,) = result.err.strip().splitlines()
    assert line.startswith("cc-reaper: error: invalid config: default_threshold_minutes:")
