"""Given requireApproval, when sweeps find stale requests and people approve plans, then
nothing is cancelled that a person did not approve, an approval cancels exactly the plan's
requests still stale, and an unknown or expired approval cancels nothing and is audited."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from reaper.models import Outcome, Source, Status
from reaper.parsing import TokenRequest

from .fakes import World


class Told:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def publish(self, subject: str, message: str) -> bool:
        self.messages.append((subject, message))
        return True


def approval_world(**config: object) -> tuple[World, Told]:
    world = World(require_approval=True, **config)
    told = Told()
    world.reaper.ports = replace(world.reaper.ports, notifier=told)
    return world, told


def approval(plan_id: str, at: str = "2025-01-01T12:05:00+00:00") -> str:
    return json.dumps(
        {
            "kind": "reaper.approval",
            "version": 1,
            "planId": plan_id,
            "approvedBy": "ana",
            "approvedAt": at,
        }
    )


def test_a_sweep_under_require_approval_cancels_nothing_and_asks_a_person():
    world, told = approval_world()
    stale = [world.cc.add(age=timedelta(hours=8)) for _ in range(3)]
    world.run("sweep-1").sweep()
    assert world.cc.calls["cancel"] == 0
    assert {d.outcome for t in stale for d in world.audit.of(t)} == {Outcome.AWAITING_APPROVAL}
    plan = world.audit.plans["sweep-1"]
    assert sorted(plan.tokens) == sorted(stale) and plan.source is Source.SWEEP
    ((subject, message),) = told.messages
    assert "3 cancel(s)" in subject and "cc-reaper approve sweep-1" in message


def test_an_approval_cancels_exactly_the_plans_requests_still_stale():
    world, _ = approval_world()
    stale = [world.cc.add(age=timedelta(hours=8)) for _ in range(3)]
    world.run("sweep-1").sweep()
    finished = stale[0]
    world.cc.requests[finished] = replace(world.cc.requests[finished], status=Status.SUCCESS)
    outside = world.cc.add(age=timedelta(hours=9))  # stale, but in no approved plan
    world.run("approver").process_message(approval("sweep-1"), "m-approve")
    assert {world.cc.status_of(t) for t in stale[1:]} == {Status.CANCEL_COMPLETE}
    assert world.cc.status_of(finished) is Status.SUCCESS
    assert world.audit.decisions[(finished, "approval", "sweep-1")].outcome is Outcome.TERMINAL
    done = world.audit.decisions[(stale[1], "approval", "sweep-1")]
    assert done.outcome is Outcome.CANCEL_COMPLETE and "approved by ana" in (done.reason or "")
    assert world.cc.status_of(outside) is Status.IN_PROGRESS
    assert world.cc.calls["cancel"] == 2


def test_an_approval_of_an_old_plan_is_refused_and_audited():
    world, _ = approval_world(approval_expiry_hours=2)
    world.cc.add(age=timedelta(hours=8))
    world.run("sweep-1").sweep()
    world.clock.current += timedelta(hours=3)
    world.run("approver").process_message(approval("sweep-1"), "m-approve")
    assert world.cc.calls["cancel"] == 0
    refused = world.audit.decisions[("(approval)", "approval", "m-approve")]
    assert refused.outcome is Outcome.APPROVAL_REFUSED and "older than 2 h" in (refused.why or "")


def test_an_approval_of_an_unknown_plan_is_refused_and_audited():
    world, _ = approval_world()
    world.cc.add(age=timedelta(hours=8))
    world.run().process_message(approval("no-such-plan"), "m-approve")
    assert world.cc.calls["cancel"] == 0
    refused = world.audit.decisions[("(approval)", "approval", "m-approve")]
    assert refused.outcome is Outcome.APPROVAL_REFUSED and "no plan" in (refused.why or "")


def test_an_approval_with_a_bad_field_is_invalid_naming_the_field():
    world, _ = approval_world()
    world.run().process_message(json.dumps({"kind": "reaper.approval", "planId": "p"}), "m1")
    (letter,) = world.dlq.sent
    assert "approvedBy" in letter.error_message
    assert world.audit.decisions[("(invalid)", "sqs", "m1")].outcome is Outcome.INVALID


def test_an_operators_own_cancel_is_the_approval():
    world, _ = approval_world()
    token = world.cc.add(age=timedelta(hours=8))
    world.run().decide_tokens(TokenRequest((token,), Source.CLI), "cli-1")
    assert world.cc.status_of(token) is Status.CANCEL_COMPLETE
