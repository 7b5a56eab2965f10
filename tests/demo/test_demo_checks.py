"""Given what the account says after the demo, when one fact differs from the scenario's
expectation, then the demo's checks name it (and the demo exits non-zero): its exit status
can fail."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from types import SimpleNamespace

from reaper.models import Decision, Outcome, Source
from reaper_local.demo import Demo, ReadBack
from reaper_local.demo_scenario import FORGOTTEN_TOKEN, MALFORMED_BODY
from rich.console import Console


def decision(token: str, source: Source, outcome: Outcome) -> Decision:
    return Decision(token, source, "d-1", outcome, datetime.now(UTC), "r-1", False)


def as_the_scenario_expects(demo: Demo) -> ReadBack:
    for n, planned in enumerate(demo.planned):
        planned.token = f"token-{n}"
    demo.sweep_result = {"listed": 7, "decided": 4}
    return ReadBack(
        decisions={p.name: [decision(p.token, s, o) for s, o in p.expected] for p in demo.planned},
        invalid=[decision("(invalid)", Source.SQS, Outcome.INVALID)],
        forgotten=[decision(FORGOTTEN_TOKEN, Source.SQS, Outcome.NOT_FOUND)],
        letters=[{"error": {"code": "InvalidToken"}, "original": MALFORMED_BODY}],
        delayed=1,
        snapshot=SimpleNamespace(
            requests={p.token: SimpleNamespace(status=p.final_status) for p in demo.planned},
            cancelled=[p.token for p in demo.planned if p.cancelled],
        ),
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

    assert failed == ["audit of database", "requests Cloud Control cancelled (tokens)"]


def test_a_lost_dead_letter_fails_its_check():
    demo = new_demo()
    back = as_the_scenario_expects(demo)
    back.letters.clear()

    failed = [c for c in demo.checks(back) if not c.ok]

    assert [(c.what, c.expected, c.actual) for c in failed] == [
        ("dead letters", "InvalidToken (original kept)", "")
    ]
    assert json.loads(MALFORMED_BODY)["requestToken"].startswith("arn:")
