"""Given moto's DynamoDB with the audit table's key schema, the adapter keeps first
sightings, claims, the kill switch and decisions, and answers by token and by time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from reaper.adapters.audit_table import AuditTable
from reaper.models import Decision, Outcome, Source, Status
from reaper.wiring import build_clients

NOW = datetime(2025, 3, 1, 23, 59, tzinfo=UTC)


@pytest.fixture
def table(stack) -> AuditTable:
    return AuditTable(build_clients().dynamodb, stack.table_name, retention_days=30)


def decision(token: str, delivery: str = "m1", at: datetime = NOW, **kw) -> Decision:
    values = {
        "token": token,
        "source": Source.SQS,
        "delivery_id": delivery,
        "outcome": Outcome.CANCEL_COMPLETE,
        "decided_at": at,
        "request_id": "req",
        "dry_run": False,
        "status_seen": Status.IN_PROGRESS,
        "status_after": Status.CANCEL_COMPLETE,
        "type_name": "AWS::S3::Bucket",
        "identifier": "b",
        "operation": "CREATE",
        "event_time": at - timedelta(hours=7),
        "first_seen": at - timedelta(hours=8),
        "age_seconds": 28800,
        "threshold_minutes": 360,
    }
    values.update(kw)
    return Decision(**values)


def test_the_first_sighting_is_kept_when_seen_again_later(table):
    assert table.remember_first_seen({"t1": NOW}) == {"t1": NOW}
    assert table.remember_first_seen({"t1": NOW + timedelta(hours=2)}) == {"t1": NOW}
    assert table.first_seen(["t1", "t2"]) == {"t1": NOW}


def test_first_sightings_of_a_whole_page_are_read_and_written_in_batches(table):
    tokens = [f"tok{i}" for i in range(130)]
    table.remember_first_seen({t: NOW for t in tokens})
    assert table.first_seen([*tokens, "unknown"]) == {t: NOW for t in tokens}


def test_a_claim_belongs_to_its_first_owner_until_it_goes_stale(table):
    assert table.claim(["t1"], "sweep#a", NOW) == {"t1"}
    assert table.claim(["t1"], "sweep#a", NOW) == {"t1"}  # the same delivery again
    assert table.claim(["t1"], "sqs#b", NOW + timedelta(minutes=1)) == set()
    assert table.claim(["t1"], "sqs#b", NOW + timedelta(minutes=30)) == {"t1"}  # owner died


def test_claiming_many_skips_what_another_run_holds(table):
    held = {f"t{i}" for i in range(0, 150, 7)}
    assert table.claim(sorted(held), "sweep#other", NOW) == held
    tokens = [f"t{i}" for i in range(150)]
    assert table.claim(tokens, "sweep#me", NOW) == set(tokens) - held
    assert table.claim(["t3", "t7"], "sqs#m9", NOW) == set()


def test_the_kill_switch_is_off_until_engaged(table):
    assert not table.kill_switch().engaged
    table.set_kill_switch(True, "incident 42", "ops@example.com", NOW)
    switch = table.kill_switch()
    assert switch.engaged and switch.reason == "incident 42" and switch.set_at == NOW


def test_a_decision_round_trips_with_its_ttl_and_gsi_keys(table, stack):
    table.record([decision("t1", error_code=None)])
    assert table.find_decision("t1", Source.SQS, "m1") == decision("t1")
    (item,) = [i for i in stack.audit_items() if i["sk"]["S"].startswith("DECISION#")]
    assert item["pk"]["S"] == "TOKEN#t1" and item["sk"]["S"] == "DECISION#sqs#m1"
    assert item["gsi1pk"]["S"] == "DAY#2025-03-01"
    assert item["gsi1sk"]["S"].startswith("2025-03-01T23:59:00")
    assert int(item["expires_at"]["N"]) == int((NOW + timedelta(days=30)).timestamp())
    assert "error_code" not in item and "ResourceModel" not in str(item)


def test_rewriting_the_same_delivery_replaces_the_decision(table):
    table.record([decision("t1", outcome=Outcome.CANCELLED)])
    table.record([decision("t1")])
    assert [d.outcome for d in table.by_token("t1")] == [Outcome.CANCEL_COMPLETE]


def test_queries_by_token_and_by_time_window_across_days(table):
    table.record([decision(f"t{i}", at=NOW + timedelta(minutes=i)) for i in range(60)])
    table.record([decision("t0", delivery="m2", at=NOW - timedelta(days=3))])
    assert {d.delivery_id for d in table.by_token("t0")} == {"m1", "m2"}
    window = list(table.by_time(NOW + timedelta(minutes=1), NOW + timedelta(minutes=5)))
    assert [d.token for d in window] == ["t1", "t2", "t3", "t4"]
    assert len(list(table.by_time(NOW - timedelta(days=4), NOW + timedelta(days=1)))) == 61
