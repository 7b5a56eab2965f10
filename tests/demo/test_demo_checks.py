"""Given what the account says after the demo, when one fact differs from the scenario's
expectation, then the demo's checks name it (and the demo exits non-zero): its exit status
can fail."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from reaper.models import Decision, Outcome, Source
from reaper_local.demo import Demo, ReadBack
from reaper_local.demo_readouts import CANCELS
from reaper_local.demo_scenario import DEPLOYER_ARN, FORGOTTEN_TOKEN, MALFORMED_BODY, Planned
from reaper_local.demo_unblock import Unblocking
from rich.console import Console


def decision(token: str, source: Source, outcome: Outcome, **fields: object) -> Decision:
    return Decision(token, source, "d-1", outcome, datetime.now(UTC), "r-1", False).but(**fields)


def planned_decision(p: Planned, source: Source, outcome: Outcome) -> Decision:
    """A decision as the function records it for this planned request."""
    fields: dict[str, object] = {}
    if outcome is Outcome.CANCEL_COMPLETE and p.leftover is not None:
        fields["leftover"] = p.leftover
    if p.name == "service-hooked":
        fields["why"] = "hook HOOK_IN_PROGRESS: waiting until age 1440 min (hooksInProgress wait)"
    if p.name == "role-update":
        fields["blocked_call"] = f"UpdateResource by {DEPLOYER_ARN} at 2026-01-01T00:00:00+00:00"
    return decision(p.token, source, outcome, **fields)


def told(tokens: list[str]) -> list[dict[str, object]]:
    return [
        {"detail-type": "Resource Request Cancelled", "detail": {"requestToken": t}} for t in tokens
    ]


def as_the_scenario_expects(demo: Demo) -> ReadBack:
    for n, planned in enumerate(demo.planned):
        planned.token = f"token-{n}"
    demo.sweep_result = {"listed": 10, "decided": 6}
    decisions = {p.name: [planned_decision(p, s, o) for s, o in p.expected] for p in demo.planned}
    cancels = [d.token for ds in decisions.values() for d in ds if d.outcome in CANCELS]
    # Only what the checks read of the emulator's Snapshot.
    snapshot: Any = SimpleNamespace(
        requests={p.token: SimpleNamespace(status=p.final_status) for p in demo.planned},
        cancelled=[p.token for p in demo.planned if p.cancelled],
    )
    return ReadBack(
        decisions=decisions,
        invalid=[decision("(invalid)", Source.SQS, Outcome.INVALID)],
        forgotten=[decision(FORGOTTEN_TOKEN, Source.SQS, Outcome.NOT_FOUND)],
        letters=[{"error": {"code": "InvalidToken"}, "original": MALFORMED_BODY}],
        delayed=1,
        snapshot=snapshot,
        told=told(cancels),
        unblocking=Unblocking("ConcurrentOperationException", "...", "retry-1", "SUCCESS"),
    )


def new_demo() -> Demo:
    return Demo(Console(file=io.StringIO()), "ERROR")


def test_every_check_holds_when_the_account_matches_the_scenario():
    demo = new_demo()
    checks = demo.checks(as_the_scenario_expects(demo))
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]


def test_a_request_left_alone_that_was_cancelled_fails_two_checks():
    demo = new_demo()
    back = as_the_scenario_expects(demo)
    database = next(p for p in demo.planned if p.name == "database")
    back.decisions["database"] = [decision(database.token, Source.SQS, Outcome.CANCEL_COMPLETE)]
    back.snapshot.cancelled.append(database.token)

    failed = [c.what for c in demo.checks(back) if not c.ok]

    assert failed == [
        "audit of database",
        "requests Cloud Control cancelled (tokens)",
        "events received: one Resource Request Cancelled per cancel audited",
        "events received by the test rule, by detail-type",
    ]


def test_a_lost_dead_letter_fails_its_check():
    demo = new_demo()
    back = as_the_scenario_expects(demo)
    back.letters.clear()

    failed = [c for c in demo.checks(back) if not c.ok]

    assert [(c.what, c.expected, c.actual) for c in failed] == [
        ("dead letters", "InvalidToken (original kept)", "")
    ]
    assert json.loads(MALFORMED_BODY)["requestToken"].startswith("arn:")


def test_a_lost_event_fails_the_event_checks():
    demo = new_demo()
    back = as_the_scenario_expects(demo)
    back.told.pop()

    failed = [c.what for c in demo.checks(back) if not c.ok]

    assert failed == [
        "events received: one Resource Request Cancelled per cancel audited",
        "events received by the test rule, by detail-type",
    ]


def test_a_deployment_still_refused_after_the_reaper_fails_its_check():
    demo = new_demo()
    back = as_the_scenario_expects(demo)
    back.unblocking.retry_status = "ConcurrentOperationException"

    failed = [(c.what, c.actual) for c in demo.checks(back) if not c.ok]

    assert failed == [("deployment's UpdateResource, retried", "ConcurrentOperationException")]


def test_a_cancelled_create_whose_leftover_was_not_checked_fails_its_check():
    demo = new_demo()
    back = as_the_scenario_expects(demo)
    queue = back.decisions["queue"][0]
    back.decisions["queue"] = [queue.but(leftover=None)]

    failed = [(c.what, c.expected, c.actual) for c in demo.checks(back) if not c.ok]

    assert failed == [("leftover after cancelling queue", "gone", "-")]


def test_a_hooked_request_left_alone_for_another_reason_fails_its_check():
    demo = new_demo()
    back = as_the_scenario_expects(demo)
    hooked = back.decisions["service-hooked"][0]
    back.decisions["service-hooked"] = [hooked.but(why="age 600 s < threshold 360 min")]

    failed = [c.what for c in demo.checks(back) if not c.ok]

    assert failed == ["why the sweep left service-hooked alone"]
