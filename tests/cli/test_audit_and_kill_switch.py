"""Given decisions in the audit table, when an operator reads them with ``cc-reaper audit`` or
flips the kill switch, then the CLI shows what the audit holds and the switch stops cancels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

HOURS = 3600


def test_audit_by_token_and_by_time_window(cli, emulator):
    stale = emulator.seed(2, age_seconds=7 * HOURS)
    assert cli("cancel", *stale).code == 0

    by_token = cli("--json", "audit", "--token", stale[0])
    window = cli("--json", "audit", "--since", "10m")
    empty = cli("--json", "audit", "--since", "3h", "--until", "2h")

    assert [d["token"] for d in by_token.json_lines()] == [stale[0]]
    assert sorted(d["token"] for d in window.json_lines()) == sorted(stale)
    assert {d["outcome"] for d in window.json_lines()} == {"dry_run"}
    assert empty.json_lines() == []
    # What the audit holds, no in-flight flag of the function's (Decision.follow_up_sent).
    assert all("follow_up_sent" not in d for d in window.json_lines())


def test_audit_table_and_outcome_filter(cli, emulator):
    (stale,) = emulator.seed(1, age_seconds=7 * HOURS)
    (young,) = emulator.seed(1, age_seconds=HOURS)
    cli("cancel", stale, young)

    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    result = cli("audit", "--since", an_hour_ago, "--outcome", "not_stale")

    assert result.code == 0, result.err
    assert young in result.out and stale not in result.out
    assert "1 decision(s)." in result.out


def test_a_bad_time_is_one_line(cli, emulator):
    result = cli("audit", "--since", "yesterday-ish")

    assert result.code == 2
    (line,) = result.err.strip().splitlines()
    assert line.startswith("cc-reaper: error: not a time: 'yesterday-ish'")


def test_the_kill_switch_is_engaged_shown_and_released(cli, emulator):
    (stale,) = emulator.seed(1, age_seconds=7 * HOURS)

    on = cli("--json", "kill-switch", "on", "--reason", "incident 42", "--by", "ops")
    blocked = cli("--json", "cancel", stale, "--no-dry-run", "--yes")
    status = cli("kill-switch", "status")
    off = cli("--json", "kill-switch", "off")

    assert on.json_lines()[0] | {"setAt": None} == {
        "engaged": True,
        "reason": "incident 42",
        "setBy": "ops",
        "setAt": None,
    }
    assert blocked.json_lines()[0]["outcome"] == "deferred_kill_switch"
    assert emulator.snapshot().cancelled == []
    assert "ENGAGED" in status.out and "incident 42" in status.out
    assert off.json_lines()[0]["engaged"] is False
    after = cli("--json", "cancel", stale, "--no-dry-run", "--yes")
    assert after.json_lines()[0]["outcome"] == "cancel_complete"


def test_engaging_the_kill_switch_needs_a_reason(cli, emulator):
    result = cli("kill-switch", "on")

    assert result.code == 2
    assert "needs --reason" in result.err
    assert cli("--json", "kill-switch").json_lines()[0]["engaged"] is False
