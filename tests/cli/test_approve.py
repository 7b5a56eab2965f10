"""Given the function holds stale requests for approval under a plan id, when an operator runs
``cc-reaper approve PLAN_ID``, then one message of the documented format reaches the work
queue, and ``--wait`` shows the decisions the function recorded for that approval."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from reaper.models import Outcome, Source
from reaper_cli import approve

from tests.cli.seeding import decision, seed_audit

PLAN = "cc-reaper-sweep-5f0c2a"


def test_approve_sends_one_message_with_the_documented_body(cli, stack):
    before = datetime.now(UTC)

    result = cli("approve", PLAN, "--approved-by", "ana@example.com")

    assert result.code == 0, result.err
    (body,) = stack.bodies(stack.work_queue_url)
    message = json.loads(body)
    approved_at = datetime.fromisoformat(message.pop("approvedAt"))
    assert message == {
        "kind": "reaper.approval",
        "version": 1,
        "planId": PLAN,
        "approvedBy": "ana@example.com",
    }
    assert approved_at.utcoffset() == timedelta(0)
    assert before <= approved_at <= datetime.now(UTC)
    assert f"Approval of plan {PLAN} by ana@example.com sent" in result.out


def test_a_malformed_plan_id_is_refused_and_nothing_is_sent(cli, stack, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli("approve", "plan 1; drop", "--approved-by", "ana")

    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "a plan id is 1 to 128 characters of [-A-Za-z0-9]" in line
    assert stack.bodies(stack.work_queue_url) == []


def test_wait_shows_the_approvals_decisions_only(cli, stack, monkeypatch):
    monkeypatch.setattr(approve, "POLL_SECONDS", 0.05)
    held = decision("tok-held", delivery_id=PLAN, outcome=Outcome.CANCEL_COMPLETE)
    seed_audit(
        stack,
        held.but(source=Source.APPROVAL, reason=f"plan {PLAN} approved by ana"),
        decision("tok-young", delivery_id=PLAN, source=Source.APPROVAL, outcome=Outcome.NOT_STALE),
        decision("tok-held", delivery_id=PLAN, outcome=Outcome.DRY_RUN),  # the sweep's, before
        decision("tok-other", delivery_id="another-plan", source=Source.APPROVAL),
    )

    result = cli("--json", "approve", PLAN, "--approved-by", "ana", "--wait")

    assert result.code == 0, result.err
    sent, *decisions = result.json_lines()
    assert sent["planId"] == PLAN and sent["messageId"]
    assert sorted((d["token"], d["outcome"]) for d in decisions) == [
        ("tok-held", "cancel_complete"),
        ("tok-young", "not_stale"),
    ]


def test_wait_says_so_when_no_decision_appears(cli, stack, monkeypatch):
    monkeypatch.setattr(approve, "WAIT_SECONDS", 0.2)
    monkeypatch.setattr(approve, "POLL_SECONDS", 0.05)

    result = cli("approve", PLAN, "--approved-by", "ana", "--wait")

    assert result.code == 1
    assert f"no decision recorded for plan {PLAN} in 0 s" in result.err
    assert len(stack.bodies(stack.work_queue_url)) == 1
