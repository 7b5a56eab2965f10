"""Given named request tokens, when an operator runs ``cc-reaper cancel`` or ``status``, then the
CLI takes the Lambda's decisions (dry run unless confirmed) and shows Cloud Control's view
without the ResourceModel."""

from __future__ import annotations

HOURS = 3600


def test_cancel_is_a_dry_run_by_default(cli, stack, emulator):
    (stale,) = emulator.seed(1, age_seconds=7 * HOURS)

    result = cli("--json", "cancel", stale)

    assert result.code == 0, result.err
    (decision,) = result.json_lines()
    assert (decision["token"], decision["outcome"], decision["dry_run"]) == (stale, "dry_run", True)
    assert emulator.snapshot().cancelled == []


def test_a_confirmed_cancel_decides_each_token_like_the_lambda(cli, stack, emulator):
    (stale,) = emulator.seed(1, age_seconds=7 * HOURS)
    (young,) = emulator.seed(1, age_seconds=HOURS)
    (done,) = emulator.seed(1, status="SUCCESS", age_seconds=9 * HOURS)

    result = cli(
        "--json", "cancel", stale, young, done, "--no-dry-run", "--yes", "--reason", "INC-1"
    )

    assert result.code == 0, result.err
    outcomes = {d["token"]: d["outcome"] for d in result.json_lines()}
    assert outcomes == {stale: "cancel_complete", young: "not_stale", done: "terminal"}
    assert emulator.snapshot().cancelled == [stale]
    reasons = {d["reason"] for d in stack.decisions()}
    assert len(reasons) == 1 and reasons.pop().endswith(": INC-1")


def test_cancel_shows_a_table_by_default(cli, emulator):
    (young,) = emulator.seed(1, type_name="AWS::Logs::LogGroup", age_seconds=HOURS)

    result = cli("cancel", young)

    assert result.code == 0
    assert "Dry run (nothing cancelled)" in result.out
    assert young in result.out and "not_stale" in result.out


def test_status_shows_the_progress_event_first_sighting_and_last_audit_never_the_model(
    cli, emulator
):
    (token,) = emulator.seed(
        1, age_seconds=7 * HOURS, resource_model='{"MasterUserPassword": "s3cr3t"}'
    )
    cli("cancel", token)  # a dry run: records a first sighting and a decision

    result = cli("--json", "status", token)

    assert result.code == 0, result.err
    (row,) = result.json_lines()
    assert row["operationStatus"] == "IN_PROGRESS"
    assert row["typeName"] == "AWS::S3::Bucket"
    assert row["verdict"] == "stale"
    assert row["thresholdMinutes"] == 360
    assert row["firstSeen"] is not None
    assert row["lastDecision"]["outcome"] == "dry_run"
    assert "s3cr3t" not in result.out
    table = cli("status", token)
    assert "stale: would cancel" in table.out and "s3cr3t" not in table.out


def test_status_of_an_unknown_token_says_so_and_fails(cli, emulator):
    result = cli("--json", "status", "no-such-token-1")

    assert result.code == 1
    (row,) = result.json_lines()
    assert row["error"]["code"] == "RequestTokenNotFoundException"


def test_a_malformed_token_is_refused_before_any_call(cli, emulator):
    result = cli("cancel", "not a token!")

    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "cc-reaper: error: not a request token: 'not a token!' "
        "(must be 1 to 128 characters of [-A-Za-z0-9+/=])"
    ]
    assert sum(emulator.snapshot().calls.values()) == 0
