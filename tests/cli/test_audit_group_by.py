"""Given decisions in the audit table, when an operator asks ``cc-reaper audit --group-by``,
then each group's count (and its outcomes) is what the table holds."""

from __future__ import annotations

from collections import Counter

import pytest
from reaper.models import Outcome

from .seeding import decision, seed_audit

DEPLOYER = "arn:aws:iam::111122223333:role/deployer"
ANA = "arn:aws:iam::111122223333:user/ana"
SEEDED = [
    # (started_by, type, outcome)
    (DEPLOYER, "AWS::S3::Bucket", Outcome.CANCEL_COMPLETE),
    (DEPLOYER, "AWS::S3::Bucket", Outcome.CANCEL_COMPLETE),
    (DEPLOYER, "AWS::Logs::LogGroup", Outcome.DRY_RUN),
    (ANA, "AWS::Logs::LogGroup", Outcome.FAILED),
    (None, "AWS::Logs::LogGroup", Outcome.NOT_STALE),
    (None, "AWS::SQS::Queue", Outcome.CANCEL_COMPLETE),
]


@pytest.fixture
def seeded(stack):
    seed_audit(
        stack,
        *(
            decision(f"tok-{i}", started_by=who, type_name=kind, outcome=outcome)
            for i, (who, kind, outcome) in enumerate(SEEDED)
        ),
    )


def expected(index: int) -> dict[str | None, Counter[str]]:
    groups: dict[str | None, Counter[str]] = {}
    for row in SEEDED:
        groups.setdefault(row[index], Counter())[row[2].value] += 1
    return groups


@pytest.mark.parametrize(("group_by", "index"), [("started-by", 0), ("type", 1)])
def test_group_counts_and_their_outcomes_equal_the_audit(cli, seeded, group_by, index):
    result = cli("--json", "audit", "--group-by", group_by)

    assert result.code == 0, result.err
    rows = result.json_lines()
    assert {r["group"]: r["count"] for r in rows} == {
        g: sum(c.values()) for g, c in expected(index).items()
    }
    assert {r["group"]: r["outcomes"] for r in rows} == {
        g: dict(c) for g, c in expected(index).items()
    }
    assert [r["count"] for r in rows] == sorted((r["count"] for r in rows), reverse=True)


def test_group_by_outcome_counts_each_outcome(cli, seeded):
    result = cli("--json", "audit", "--group-by", "outcome")

    assert {r["group"]: r["count"] for r in result.json_lines()} == dict(
        Counter(o.value for _, _, o in SEEDED)
    )


def test_the_summary_table_shows_who_started_what(cli, seeded):
    result = cli("audit", "--group-by", "started-by", "--outcome", "cancel_complete")

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    (deployer,) = [line for line in lines if DEPLOYER in line]
    (unknown,) = [line for line in lines if "(not recorded)" in line]
    assert deployer.split("│")[2].strip() == "2"
    assert unknown.split("│")[2].strip() == "1"
    assert ANA not in result.out
    assert "3 decision(s) in 2 group(s)." in result.out
