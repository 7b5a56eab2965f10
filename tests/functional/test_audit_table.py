"""Given moto's DynamoDB with the audit table's key schema, the adapter keeps first
sightings, claims, the kill switch and decisions, and answers by token and by time; and when
DynamoDB leaves part of a batch unprocessed (moto never does: a hook on the real client plays
DynamoDB under load), the rest is retried until written, or a StoreError says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from reaper.adapters import audit_io as audit_table_module
from reaper.adapters.audit_io import UNPROCESSED_ATTEMPTS
from reaper.adapters.audit_table import AuditTable
from reaper.errors import StoreError
from reaper.handoff import HandOffRef, Reading
from reaper.models import (
    FOLLOW_NOT_SENT,
    FOLLOWED_BY_NEXT_SWEEP,
    Decision,
    OpenRun,
    Outcome,
    RequestStatus,
    Sighting,
    Source,
    Status,
    Taken,
)
from reaper.run_state import interrupted
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
    assert table.remember_first_seen({"t1": Sighting(NOW)}) == {"t1": Sighting(NOW)}
    later = Sighting(NOW + timedelta(hours=2))
    assert table.remember_first_seen({"t1": later}) == {"t1": Sighting(NOW)}
    assert table.first_seen(["t1", "t2"]) == {"t1": Sighting(NOW)}


def test_who_started_a_request_is_added_to_its_sighting_once_and_never_replaced(table):
    table.remember_first_seen({"t1": Sighting(NOW)})
    first = Sighting(NOW + timedelta(hours=1), "arn:aws:iam::1:role/ci", "terraform/1.9")
    assert table.remember_first_seen({"t1": first}) == {
        "t1": Sighting(NOW, "arn:aws:iam::1:role/ci", "terraform/1.9")
    }
    other = Sighting(NOW, "arn:aws:iam::1:role/other", "console")
    assert table.remember_first_seen({"t1": other})["t1"].started_by == "arn:aws:iam::1:role/ci"
    assert table.first_seen(["t1"])["t1"].user_agent == "terraform/1.9"


def test_first_sightings_of_a_whole_page_are_read_and_written_in_batches(table):
    tokens = [f"tok{i}" for i in range(130)]
    table.remember_first_seen({t: Sighting(NOW) for t in tokens})
    assert table.first_seen([*tokens, "unknown"]) == {t: Sighting(NOW) for t in tokens}


def test_packed_first_sightings_come_back_whole_and_the_earliest_wins(table, stack):
    tokens = [f"tok{i:05d}-{'x' * 30}" for i in range(4500)]
    early = NOW + timedelta(microseconds=1)  # rounded up: never older than it was seen
    assert table.pack_first_seen({t: Sighting(early) for t in tokens}, NOW) == 3
    later = NOW + timedelta(hours=1)
    assert table.pack_first_seen({tokens[0]: Sighting(later), "new": Sighting(later)}, later) == 1
    packed = table.packed_first_seen()
    assert set(packed) == {*tokens, "new"}
    assert packed[tokens[0]] == packed[tokens[-1]] == NOW + timedelta(seconds=1)
    assert packed["new"] == later
    # Four items for 4,502 sightings, in the index's SIGHTINGS partition, none under a
    # token's key (a token's own item, read by deliveries, is never replaced by a pack).
    items = build_clients().dynamodb.scan(TableName=stack.table_name)["Items"]
    packs = [it for it in items if it["pk"]["S"].startswith("SIGHTINGS#")]
    assert len(packs) == 4 and {it["gsi1pk"]["S"] for it in packs} == {"SIGHTINGS"}
    assert all(len(str(it)) < 150_000 for it in packs)
    assert table.first_seen(tokens[:3]) == {}


def test_a_cancel_awaiting_its_follow_up_is_kept_by_key_and_indexed_once_final(table, stack):
    waiting = decision("t1", outcome=Outcome.CANCELLED, status_after=Status.CANCEL_IN_PROGRESS)
    client = build_clients().dynamodb
    key = {"pk": {"S": "TOKEN#t1"}, "sk": {"S": "DECISION#sqs#m1"}}

    def stored() -> dict:
        return client.get_item(TableName=stack.table_name, Key=key)["Item"]

    table.record([waiting.but(follow_up_sent=True)])
    assert "gsi1pk" not in stored()  # one write unit: no index copy
    assert table.find_decision("t1", Source.SQS, "m1") == waiting
    assert table.recorded_decision("t1", Source.SQS, "m1") == waiting
    assert table.recorded_decision("t1", Source.SQS, "m2") is None
    table.record([waiting.but(outcome=Outcome.CANCEL_COMPLETE)])  # the follow-up's record
    assert stored()["gsi1pk"]["S"] == f"DAY#{NOW.date().isoformat()}"
    # A cancel left to the next sweep stays in the index whatever the flag says.
    table.record([waiting.but(follow_up_sent=True, error_code=FOLLOW_NOT_SENT)])
    assert stored()["gsi1pk"]["S"] == "UNFOLLOWED"


def test_no_packs_read_as_none(table):
    assert table.packed_first_seen() == {}
    assert table.pack_first_seen({}, NOW) == 0


def test_a_claim_belongs_to_its_holder_until_the_holders_invocation_ends(table):
    until = NOW + timedelta(minutes=2)  # the holder's deadline
    assert table.claim(["t1"], "sweep#a", NOW, until) == {"t1": None}
    assert table.claim(["t1"], "sweep#a", NOW, until) == {"t1": None}  # the same delivery again
    later = NOW + timedelta(minutes=1)
    assert table.claim(["t1"], "sqs#b", later, later + timedelta(minutes=5)) == {}
    ended = NOW + timedelta(minutes=3)  # the holder's invocation is over: not 16 minutes
    # The claim taken over names the ended holder (who may have cancelled it already).
    assert table.claim(["t1"], "sqs#b", ended, ended + timedelta(minutes=5)) == {"t1": "sweep#a"}
    assert table.claim_owner("t1") == "sqs#b" and table.claim_owner("t2") is None


def test_a_claim_of_the_previous_version_without_an_end_goes_stale_after_16_minutes(table):
    table._client.put_item(
        TableName=table._table,
        Item={
            "pk": {"S": "TOKEN#t1"},
            "sk": {"S": "CLAIM"},
            "owner": {"S": "sweep#old"},
            "claimed_at": {"S": "2025-03-01T23:59:00.000000Z"},  # NOW
        },
    )
    soon, late = NOW + timedelta(minutes=1), NOW + timedelta(minutes=17)
    assert table.claim(["t1"], "sqs#b", soon, soon + timedelta(minutes=5)) == {}
    assert set(table.claim(["t1"], "sqs#b", late, late + timedelta(minutes=5))) == {"t1"}


def test_claiming_many_skips_what_another_run_holds(table):
    until = NOW + timedelta(minutes=10)
    held = {f"t{i}" for i in range(0, 150, 7)}
    assert set(table.claim(sorted(held), "sweep#other", NOW, until)) == held
    tokens = [f"t{i}" for i in range(150)]
    assert set(table.claim(tokens, "sweep#me", NOW, until)) == set(tokens) - held
    assert table.claim(["t3", "t7"], "sqs#m9", NOW, until) == {}


def test_interrupted_write_aheads_are_found_until_their_outcome_replaces_them(table):
    def decision(token: str, at, outcome=Outcome.CANCELLED) -> Decision:
        return Decision(token, Source.SWEEP, "run-1", outcome, at, "req-1", False)

    old, fresh = NOW - timedelta(minutes=30), NOW - timedelta(minutes=1)
    table.record([interrupted(decision("t1", old)), interrupted(decision("t2", fresh))])
    table.record([interrupted(decision("t3", old))])
    found = table.interrupted(NOW - timedelta(minutes=16), limit=10)
    assert sorted(d.token for d in found) == ["t1", "t3"]
    assert all(d.error_code == "Interrupted" for d in found)
    table.record([decision("t1", NOW)])  # its outcome, same key
    assert [d.token for d in table.interrupted(NOW, limit=10)] == ["t3", "t2"]
    assert len(table.interrupted(NOW, limit=1)) == 1


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


# ---------------------------------------------------------------- unprocessed items and keys
UNPROCESSED_FIELD = {"BatchWriteItem": "UnprocessedItems", "BatchGetItem": "UnprocessedKeys"}


class Unprocessed:
    """Plays DynamoDB answering a batch call in part, on a real client against moto.

    For its first ``times`` calls of ``operation`` only the first half of the batch goes to
    moto; the other half comes back as UnprocessedItems/UnprocessedKeys, as DynamoDB returns
    them (the same requests). With ``keep_none`` nothing reaches moto and the whole batch comes
    back unprocessed. ``sent`` holds what each call asked for (items or keys)."""

    def __init__(self, client: Any, operation: str, times: int, *, keep_none: bool = False):
        self.operation = operation
        self.times = times
        self.keep_none = keep_none
        self.sent: list[list[Any]] = []
        self._held: dict[str, Any] = {}
        events = client.meta.events
        events.register(f"provide-client-params.dynamodb.{operation}", self._split)
        events.register(f"before-call.dynamodb.{operation}", self._answer_for_moto)
        events.register(f"after-call.dynamodb.{operation}", self._add_unprocessed)

    def _entries(self, requests: Any) -> list[Any]:
        return requests["Keys"] if self.operation == "BatchGetItem" else requests

    def _with_entries(self, requests: Any, entries: list[Any]) -> Any:
        return {**requests, "Keys": entries} if self.operation == "BatchGetItem" else entries

    def _split(self, params: dict[str, Any], **_: Any) -> dict[str, Any] | None:
        ((table, requests),) = params["RequestItems"].items()
        entries = self._entries(requests)
        self.sent.append(entries)
        self._held = {}
        if len(self.sent) > self.times:
            return None
        if self.keep_none:
            self._held = {table: requests}
            return None
        half = len(entries) // 2
        self._held = {table: self._with_entries(requests, entries[half:])}
        return {**params, "RequestItems": {table: self._with_entries(requests, entries[:half])}}

    def _answer_for_moto(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if self.keep_none and self._held:
            return AWSResponse("http://dynamodb", 200, {}, None), {
                UNPROCESSED_FIELD[self.operation]: {}
            }
        return None

    def _add_unprocessed(self, parsed: dict[str, Any], **_: Any) -> None:
        if self._held:
            parsed[UNPROCESSED_FIELD[self.operation]] = self._held


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The adapter's backoff pauses, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(audit_table_module, "time", SimpleNamespace(sleep=slept.append))
    return slept


def test_unprocessed_decisions_are_retried_until_every_one_is_written(stack, sleeps):
    client = build_clients().dynamodb
    hook = Unprocessed(client, "BatchWriteItem", times=1)
    decisions = [decision(f"t{i}") for i in range(20)]

    AuditTable(client, stack.table_name, retention_days=30).record(decisions)

    assert [len(call) for call in hook.sent] == [20, 10]  # the retry sends only the rest
    written = {i["pk"]["S"] for i in stack.audit_items() if i["sk"]["S"].startswith("DECISION#")}
    assert written == {f"TOKEN#t{i}" for i in range(20)}
    assert len(sleeps) == 1 and sleeps[0] > 0


def test_decisions_never_processed_are_a_store_error_after_the_bounded_attempts(stack, sleeps):
    client = build_clients().dynamodb
    hook = Unprocessed(client, "BatchWriteItem", times=10**6, keep_none=True)

    with pytest.raises(StoreError) as raised:
        AuditTable(client, stack.table_name).record([decision("t1"), decision("t2")])

    assert raised.value.code == "UnprocessedItems"
    assert len(hook.sent) == UNPROCESSED_ATTEMPTS
    assert all(len(call) == 2 for call in hook.sent)  # each attempt resent the whole rest
    assert sleeps == sorted(sleeps) and sleeps[-1] > sleeps[0]  # backing off
    assert [i for i in stack.audit_items() if i["sk"]["S"].startswith("DECISION#")] == []


def test_unprocessed_keys_are_read_again_until_every_sighting_is_found(stack, table, sleeps):
    tokens = [f"tok{i}" for i in range(30)]
    table.remember_first_seen({t: Sighting(NOW) for t in tokens})
    client = build_clients().dynamodb
    hook = Unprocessed(client, "BatchGetItem", times=2)

    found = AuditTable(client, stack.table_name).first_seen(tokens)

    assert found == {t: Sighting(NOW) for t in tokens}
    assert [len(call) for call in hook.sent] == [30, 15, 8]
    assert len(sleeps) == 2


def test_keys_never_processed_are_a_store_error_after_the_bounded_attempts(stack, sleeps):
    client = build_clients().dynamodb
    hook = Unprocessed(client, "BatchGetItem", times=10**6, keep_none=True)

    with pytest.raises(StoreError) as raised:
        AuditTable(client, stack.table_name).first_seen(["tok1", "tok2"])

    assert raised.value.code == "UnprocessedKeys"
    assert len(hook.sent) == UNPROCESSED_ATTEMPTS
    assert len(sleeps) == UNPROCESSED_ATTEMPTS


# ---------------------------------------------------------------- the decision pipeline
def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's item size: each attribute's name and value (UTF-8; a number about one byte
    per two digits, plus one), as the write unit is counted."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        (kind, raw), *_ = value.items()
        size += len(raw) // 2 + 1 if kind == "N" else 1 if kind == "BOOL" else len(raw.encode())
    return size


def test_a_claim_is_the_write_ahead_in_one_small_item_outside_the_index(table, stack):
    until = NOW + timedelta(minutes=2)
    ahead = interrupted(decision("t1", outcome=Outcome.FAILED))
    assert table.claim_ahead(["t1"], "sqs#m1", NOW, until, {"t1": ahead}) == {"t1": Taken()}
    (item,) = [i for i in stack.audit_items() if i["sk"]["S"] == "CLAIM"]
    assert "gsi1pk" not in item  # no index copy: one write unit
    assert item_bytes(item) <= 1024
    # A redelivery of m1 finds what it wrote ahead; another delivery finds nothing.
    assert table.find_decision("t1", Source.SQS, "m1") == ahead
    assert table.find_decision("t1", Source.SQS, "m2") is None
    # Its outcome, once recorded, is what the delivery finds.
    table.record([decision("t1")])
    assert table.find_decision("t1", Source.SQS, "m1") == decision("t1")


def test_taking_over_an_ended_claim_returns_what_its_holder_wrote_ahead(table):
    ahead = interrupted(decision("t1", outcome=Outcome.FAILED))
    table.claim_ahead(["t1"], "sqs#m1", NOW, NOW + timedelta(minutes=1), {"t1": ahead})
    later = NOW + timedelta(minutes=2)
    mine = interrupted(decision("t1", delivery="run-2", source=Source.SWEEP, at=later))
    taken = table.claim_ahead(["t1"], "sweep#run-2", later, later, {"t1": mine})
    assert taken == {"t1": Taken("sqs#m1", ahead)}
    assert table.claim_owner("t1") == "sweep#run-2"


def test_a_later_attempt_write_ahead_supersedes_an_earlier_recorded_failure(table):
    failure = decision("t1", outcome=Outcome.FAILED, error_code="ThrottlingException")
    table.record([failure])
    ahead = interrupted(decision("t1", outcome=Outcome.FAILED, request_id="req-2"))
    table.claim_ahead(["t1"], "sqs#m1", NOW, NOW + timedelta(minutes=1), {"t1": ahead})
    assert table.find_decision("t1", Source.SQS, "m1") == ahead


def test_open_runs_are_found_once_their_holder_ended_and_closed_for_good(table, stack):
    live = table.open_run(OpenRun("sweep#live", NOW, NOW + timedelta(minutes=10)), ["t0"])
    chosen = [f"{n:036d}" for n in range(60)]  # 60 tokens of 36 characters
    ended = table.open_run(
        OpenRun("sweep#ended", NOW - timedelta(minutes=20), NOW - timedelta(minutes=5)), chosen
    )
    assert ended.parts == 3  # about 23 a part: each under 1 KB, one write unit
    parts = [i for i in stack.audit_items() if i["sk"]["S"].startswith("TOKENS#")]
    assert all(item_bytes(i) <= 1024 and "gsi1pk" not in i for i in parts)
    assert table.ended_runs(NOW) == [ended]
    assert table.run_tokens(ended) == chosen or sorted(table.run_tokens(ended)) == sorted(chosen)
    table.close_run(ended)
    assert table.ended_runs(NOW + timedelta(hours=1)) == [live]


def test_written_ahead_names_only_the_owners_unreplaced_write_aheads(table):
    until = NOW + timedelta(minutes=1)
    for token, owner in (("t1", "run-a"), ("t2", "run-a"), ("t3", "run-b")):
        ahead = interrupted(decision(token, delivery=owner, source=Source.SWEEP))
        table.claim_ahead([token], f"sweep#{owner}", NOW, until, {token: ahead})
    table.record([decision("t2", delivery="run-a", source=Source.SWEEP)])  # replaced
    found = table.written_ahead(["t1", "t2", "t3", "t4"], {"sweep#run-a"})
    assert [d.token for d in found] == ["t1"] and found[0].error_code == "Interrupted"


def test_a_cancel_whose_follow_up_was_not_sent_waits_in_its_own_index_partition(table, stack):
    waiting = decision(
        "t1", outcome=Outcome.CANCELLED, error_code=FOLLOW_NOT_SENT, error_message="queue down"
    )
    table.record([waiting])
    (item,) = [i for i in stack.audit_items() if i["sk"]["S"].startswith("DECISION#")]
    assert item["gsi1pk"]["S"] == "UNFOLLOWED"
    assert table.unfollowed(NOW + timedelta(seconds=1), 10) == [waiting]
    table.record([decision("t1")])  # followed: back in its day
    assert table.unfollowed(NOW + timedelta(seconds=1), 10) == []


def test_a_hand_off_keeps_what_the_sweep_read_one_item_a_message(table: AuditTable) -> None:
    requests = [
        RequestStatus(f"h{n}", "AWS::S3::Bucket", f"b{n}", "CREATE", Status.IN_PROGRESS, NOW)
        for n in range(120)
    ]
    parts = [
        [Reading(r, NOW - timedelta(hours=9)) for r in requests[i : i + 40]]
        for i in range(0, 120, 40)
    ]
    refs = table.store_handoff("sweep#run-1", parts, NOW, first=2)
    assert [r.part for r in refs] == [2, 3, 4]
    assert table.handoff_readings(refs[1]) == {r.request.token: r for r in parts[1]}
    assert table.handoff_readings(HandOffRef("sweep#run-1", 9)) == {}


def test_a_handed_off_cancel_waits_for_the_next_sweep_in_the_unfollowed_partition(
    table: AuditTable,
) -> None:
    left = decision(
        "hand1",
        outcome=Outcome.CANCELLED,
        status_after=Status.CANCEL_IN_PROGRESS,
        source=Source.SWEEP,
        error_code=FOLLOWED_BY_NEXT_SWEEP,
    )
    table.record([left])
    assert [d.token for d in table.unfollowed(NOW + timedelta(seconds=1), 10)] == ["hand1"]
