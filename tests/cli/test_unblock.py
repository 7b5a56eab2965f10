"""Given a resource held by an active Cloud Control request, when an operator runs ``cc-reaper
unblock``, then the request(s) on that resource, and only those, are decided by the function's
rules: a dry run cancels nothing, a confirmed run cancels a stale one, a young one is left
blocking, and a resource nothing holds is said to be free."""

from __future__ import annotations

import re

HOURS = 3600
LOG_GROUP = "AWS::Logs::LogGroup"


def blocked(emulator, age_seconds: float) -> tuple[str, str]:
    """An active request on a log group, and that log group's identifier."""
    (token,) = emulator.seed(1, type_name=LOG_GROUP, age_seconds=age_seconds)
    return token, emulator.request(token).identifier


def test_a_dry_run_finds_the_blocking_request_and_cancels_nothing(cli, stack, emulator):
    token, identifier = blocked(emulator, 7 * HOURS)
    emulator.seed(2, type_name=LOG_GROUP, age_seconds=7 * HOURS)  # other log groups

    result = cli("--json", "unblock", "--type-name", LOG_GROUP, "--identifier", identifier)

    assert result.code == 0, result.err
    (decision,) = result.json_lines()
    assert (decision["token"], decision["outcome"]) == (token, "dry_run")
    assert decision["blocked_call"].startswith("cc-reaper unblock by ")
    assert decision["source"] == "cli"
    assert emulator.snapshot().cancelled == []
    assert [d["token"] for d in stack.decisions()] == [token]


def test_a_confirmed_unblock_cancels_the_stale_request_on_that_resource_only(cli, stack, emulator):
    token, identifier = blocked(emulator, 7 * HOURS)
    others = emulator.seed(2, type_name=LOG_GROUP, age_seconds=7 * HOURS)

    result = cli(
        "--json",
        "unblock",
        "--type-name",
        LOG_GROUP,
        "--identifier",
        identifier,
        "--no-dry-run",
        "--yes",
        "--reason",
        "INC-9",
    )

    assert result.code == 0, result.err
    (decision,) = result.json_lines()
    assert decision["outcome"] == "cancel_complete"
    state = emulator.snapshot()
    assert state.cancelled == [token]
    assert {state.requests[t].status for t in others} == {"IN_PROGRESS"}
    (audited,) = stack.decisions()
    assert audited["blocked_call"].endswith(": INC-9")


def test_the_table_shows_the_request_its_age_threshold_and_decision(cli, emulator):
    token, identifier = blocked(emulator, 7 * HOURS)

    result = cli("unblock", "--type-name", LOG_GROUP, "--identifier", identifier)

    assert result.code == 0, result.err
    (row,) = [line for line in result.out.splitlines() if token in line]
    assert "CREATE" in row and "IN_PROGRESS" in row
    # The emulator's clock stands still while the CLI reads the real one: 7h and some minutes.
    assert re.search(r"7h\d\dm / 6h00m", row) and "dry_run (would cancel)" in row
    assert "Dry run: nothing was cancelled" in result.out


def test_a_young_request_is_left_blocking(cli, emulator):
    token, identifier = blocked(emulator, HOURS)

    result = cli(
        "--json",
        "unblock",
        "--type-name",
        LOG_GROUP,
        "--identifier",
        identifier,
        "--no-dry-run",
        "--yes",
    )
    table = cli("unblock", "--type-name", LOG_GROUP, "--identifier", identifier)

    assert result.code == 0, result.err
    (decision,) = result.json_lines()
    assert (decision["token"], decision["outcome"]) == (token, "blocking")
    assert decision["threshold_minutes"] == 360
    assert emulator.snapshot().cancelled == []
    assert "blocking (not stale yet)" in table.out


def test_the_blocking_threshold_makes_a_younger_request_stale(cli, emulator):
    _, identifier = blocked(emulator, HOURS)

    result = cli(
        "--json",
        "unblock",
        "--type-name",
        LOG_GROUP,
        "--identifier",
        identifier,
        "--blocking-threshold-minutes",
        "30",
    )

    assert result.code == 0, result.err
    (decision,) = result.json_lines()
    assert (decision["outcome"], decision["threshold_minutes"]) == ("dry_run", 30)


def test_a_resource_nothing_blocks_is_reported_with_exit_3(cli, stack, emulator):
    emulator.seed(1, type_name=LOG_GROUP, age_seconds=7 * HOURS)  # another log group
    (done,) = emulator.seed(1, type_name=LOG_GROUP, status="SUCCESS", age_seconds=7 * HOURS)

    result = cli(
        "unblock", "--type-name", LOG_GROUP, "--identifier", emulator.request(done).identifier
    )

    assert result.code == 3
    assert result.out == ""
    assert "Nothing blocks AWS::Logs::LogGroup" in result.err
    assert stack.decisions() == []


def test_no_dry_run_without_yes_is_refused(cli, emulator):
    _, identifier = blocked(emulator, 7 * HOURS)

    result = cli("unblock", "--type-name", LOG_GROUP, "--identifier", identifier, "--no-dry-run")

    assert result.code == 2
    assert "add --yes to confirm" in result.err
    assert emulator.snapshot().cancelled == []


def test_a_malformed_type_name_is_refused_before_any_call(cli, emulator):
    result = cli("unblock", "--type-name", "Logs LogGroup", "--identifier", "x")

    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "cc-reaper: error: not a TypeName: 'Logs LogGroup' (like AWS::Logs::LogGroup)"
    ]
    assert sum(emulator.snapshot().calls.values()) == 0
