"""Given stuck requests, when an operator runs ``cc-reaper plan`` then ``apply``, then the plan
lists exactly the stale ones without touching the audit or any stack, and apply cancels only
the planned requests still stale, refusing (one line, exit 2) a plan edited, expired or made
for another account or Region."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ccapi_emulator.lifecycle import Lifecycle
from reaper_cli import planfile

HOURS = 3600


@pytest.fixture
def planned(cli, stack, emulator, tmp_path):
    """Two stale requests (one finishes before apply), one young, one finished, a plan file."""
    stale = emulator.seed(1, age_seconds=7 * HOURS)[0]
    finishing = emulator.seed(1, age_seconds=7 * HOURS, lifecycle=Lifecycle.succeed(7 * HOURS + 1))[
        0
    ]
    emulator.seed(1, age_seconds=HOURS)  # young
    emulator.seed(1, status="SUCCESS", age_seconds=9 * HOURS)  # terminal
    path = tmp_path / "plan.json"
    result = cli("plan", "--out", str(path), stack_name=None)
    assert result.code == 0, result.err
    return path, stale, finishing


def _rewrite(path: Path, **changes: object) -> None:
    """Edit a plan and seal it again: only the check under test can refuse it."""
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(planfile.seal(document)))


def test_plan_lists_exactly_the_stale_requests_and_writes_nothing_but_the_file(
    cli, stack, emulator, tmp_path
):
    stale = set(emulator.seed(2, age_seconds=7 * HOURS))
    emulator.seed(1, age_seconds=HOURS)
    emulator.seed(1, type_name="AWS::RDS::DBInstance", age_seconds=7 * HOURS)  # a day for RDS
    emulator.seed(1, status="SUCCESS", age_seconds=9 * HOURS)
    path = tmp_path / "plan.json"

    # No stack: plan needs neither its table nor its queues.
    result = cli("plan", "--out", str(path), stack_name="NoSuchStack")

    assert result.code == 0, result.err
    document = json.loads(path.read_text())
    assert {row["token"] for row in document["tokens"]} == stale
    assert document["kind"] == "cc-reaper.plan" and document["version"] == 1
    assert (document["account"], document["region"]) == ("123456789012", "us-east-1")
    assert document["digest"] == planfile.seal(document)["digest"]
    assert document["configDigest"] == planfile.sha256(document["config"])
    row = document["tokens"][0]
    assert row["thresholdMinutes"] == 360 and row["ageSeconds"] >= 7 * HOURS
    assert row["status"] == "IN_PROGRESS" and "(EventTime)" in row["reason"]
    created = datetime.fromisoformat(document["createdAt"])
    assert datetime.fromisoformat(document["expiresAt"]) - created == timedelta(hours=24)
    assert "EventTime only" in result.out and "Nothing was cancelled" in result.out
    assert stack.decisions() == []
    assert emulator.snapshot().cancelled == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


def test_plan_json_is_the_plan_document(cli, emulator):
    (stale,) = emulator.seed(1, age_seconds=7 * HOURS)

    result = cli("--json", "plan", "--threshold-minutes", "30", "--expires-in", "90m")

    assert result.code == 0, result.err
    (document,) = result.json_lines()
    assert [row["token"] for row in document["tokens"]] == [stale]
    assert document["config"]["default_threshold_minutes"] == 30
    created = datetime.fromisoformat(document["createdAt"])
    assert datetime.fromisoformat(document["expiresAt"]) - created == timedelta(minutes=90)


def test_apply_is_a_dry_run_by_default(cli, stack, emulator, planned):
    path, stale, _ = planned

    result = cli("--json", "apply", str(path), "--approved-by", "ana")

    assert result.code == 0, result.err
    results = {row["token"]: row["result"] for row in result.json_lines()}
    assert results[stale] == "would_cancel"
    assert emulator.snapshot().cancelled == []


def test_apply_cancels_the_planned_requests_still_stale_and_skips_the_others(
    cli, stack, emulator, planned
):
    path, stale, finishing = planned
    emulator.clock.advance(2)  # `finishing` succeeds between plan and apply
    (unplanned,) = emulator.seed(1, age_seconds=7 * HOURS)
    plan_id = json.loads(path.read_text())["id"]
    cli("apply", str(path), "--approved-by", "ana")  # a dry run first must not stand in

    result = cli("--json", "apply", str(path), "--approved-by", "ana", "--no-dry-run", "--yes")

    assert result.code == 0, result.err
    rows = {row["token"]: row for row in result.json_lines()}
    assert {t: (r["result"], r["outcome"]) for t, r in rows.items()} == {
        stale: ("cancelled", "cancel_complete"),
        finishing: ("skipped", "terminal"),
    }
    assert emulator.snapshot().cancelled == [stale]
    assert emulator.request(unplanned).status == "IN_PROGRESS"
    audited = [d for d in stack.decisions() if d["delivery_id"] == f"plan-{plan_id}"]
    assert {d["token"] for d in audited} == {stale, finishing}
    assert {d["reason"] for d in audited} == {f"plan {plan_id} approved by ana"}
    again = cli("--json", "apply", str(path), "--approved-by", "ana", "--no-dry-run", "--yes")
    assert {r["result"] for r in again.json_lines()} == {"already_applied"}
    assert emulator.snapshot().cancelled == [stale]


def test_apply_shows_a_table_of_results(cli, stack, emulator, planned):
    path, stale, finishing = planned
    emulator.clock.advance(2)

    result = cli("apply", str(path), "--approved-by", "ana", "--no-dry-run", "--yes")

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert any(stale in line and "cancelled" in line for line in lines)
    assert any(finishing in line and "skipped" in line for line in lines)
    assert "no longer stale" in result.out and "1 cancelled, 1 skipped;" in result.out


def _refused(cli, emulator, path: Path) -> str:
    result = cli("apply", str(path), "--approved-by", "ana", "--no-dry-run", "--yes")
    assert result.code == 2
    assert emulator.snapshot().cancelled == []
    (line,) = result.err.strip().splitlines()
    return line


def test_a_plan_edited_by_hand_is_refused(cli, stack, emulator, planned):
    path, _, _ = planned
    document = json.loads(path.read_text())
    document["config"]["default_threshold_minutes"] = 5
    path.write_text(json.dumps(document))

    line = _refused(cli, emulator, path)

    assert line == (
        f"cc-reaper: error: plan {document['id']} was changed after it was made (its digest "
        "does not match): make a new plan with cc-reaper plan"
    )


def test_a_plan_for_another_account_is_refused(cli, stack, emulator, planned):
    path, _, _ = planned
    _rewrite(path, account="111122223333")

    line = _refused(cli, emulator, path)

    assert "is for account 111122223333 in us-east-1; these credentials are for account " in line
    assert line.endswith("123456789012 in us-east-1: nothing was cancelled")


def test_a_plan_for_another_region_is_refused(cli, stack, emulator, planned):
    path, _, _ = planned
    _rewrite(path, region="eu-west-1")

    line = _refused(cli, emulator, path)

    assert "is for account 123456789012 in eu-west-1;" in line


def test_an_expired_plan_is_refused(cli, stack, emulator, planned):
    path, _, _ = planned
    _rewrite(path, expiresAt=planfile.iso(datetime.now(UTC) - timedelta(seconds=1)))

    line = _refused(cli, emulator, path)

    assert "expired at" in line and line.endswith(": make a new plan")


def test_a_plan_whose_config_does_not_match_its_digest_is_refused(cli, stack, emulator, planned):
    path, _, _ = planned
    document = json.loads(path.read_text())
    _rewrite(path, config={**document["config"], "default_threshold_minutes": 5})

    line = _refused(cli, emulator, path)

    assert "its config reads differently with this cc-reaper (configDigest)" in line


def test_a_file_that_is_not_a_plan_is_refused(cli, emulator, tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"kind": "something-else"}')

    line = _refused(cli, emulator, path)

    assert line == f"cc-reaper: error: {path} is not a cc-reaper plan (kind 'cc-reaper.plan')"
