"""Given fakes of every port, the work a sweep or an SQS batch shares: write-ahead decisions in
batches, first sightings only where they are still needed, one follow for many cancels, and
a pool sized from the rate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
from reaper.clock import Deadline
from reaper.errors import CloudControlError, StoreError
from reaper.handler import _sqs_batch
from reaper.models import Decision, Outcome, Status
from reaper.run_state import INTERRUPTED
from reaper.wiring import workers_for

from tests.conftest import FakeLambdaContext, sqs_record

from .fakes import T0, World

COMPLETE = Status.CANCEL_COMPLETE


class RecordCalls:
    """Wraps FakeAudit.record: the size and error codes of each call, in order."""

    def __init__(self, world: World) -> None:
        self.calls: list[list[Decision]] = []
        real = world.audit.record

        def record(decisions: Sequence[Decision]) -> None:
            self.calls.append(list(decisions))
            real(decisions)

        world.audit.record = record  # type: ignore[method-assign]

    def write_aheads(self) -> list[list[Decision]]:
        return [c for c in self.calls if c and all(d.error_code == INTERRUPTED for d in c)]


def stale(world: World, n: int) -> list[str]:
    return [world.cc.add(age=timedelta(hours=7)) for _ in range(n)]


def test_a_sweep_writes_its_cancels_ahead_a_chunk_at_a_time_before_cancelling():
    world = World(max_cancellations_per_run=1000, calls_per_second=200, max_concurrency=1)
    tokens = stale(world, 60)
    calls = RecordCalls(world)
    cancelled_before_written: list[str] = []
    real_cancel = world.cc.cancel

    def cancel(token: str):
        if not any(token == d.token for c in calls.write_aheads() for d in c):
            cancelled_before_written.append(token)
        return real_cancel(token)

    world.cc.cancel = cancel  # type: ignore[method-assign]
    world.run().sweep()
    aheads = calls.write_aheads()
    assert not cancelled_before_written
    assert sorted(d.token for c in aheads for d in c) == sorted(tokens)
    # 200 calls/s over 4 workers: 50/s each, so a chunk is the cap of 25 (one BatchWriteItem).
    # Workers write their chunks concurrently: which one is written first is the scheduler's.
    assert sorted(len(c) for c in aheads) == [10, 25, 25]
    assert {world.audit.of(t)[0].outcome for t in tokens} == {Outcome.CANCEL_COMPLETE}


def test_a_chunk_is_sized_so_it_ends_well_inside_the_deadline_margin():
    world = World(max_cancellations_per_run=1000, calls_per_second=20, max_concurrency=1)
    stale(world, 30)
    calls = RecordCalls(world)
    # 20 calls/s over 4 workers is 5/s each; a 3 s margin allows 1 s of it: 5 a chunk.
    world.reaper.run("r", Deadline(lambda: 600_000, margin_seconds=3)).sweep()
    assert {len(c) for c in calls.write_aheads()} == {5}


def test_a_sweep_stores_first_sightings_only_of_requests_still_pending_after_it():
    world = World(max_cancellations_per_run=1000)
    cancelled = stale(world, 3)
    young = world.cc.add(age=timedelta(minutes=5))
    failing = world.cc.add(age=timedelta(hours=7))
    world.cc.errors[("cancel", failing)] = CloudControlError("AccessDeniedException", "no")
    world.run().sweep()
    # The young request and the one whose cancel failed will be listed again: their first
    # sighting must hold their age. The cancelled ones are gone: their decision says when.
    assert set(world.audit.seen) == {young, failing}
    assert world.audit.seen[young].at == T0
    assert {world.audit.of(t)[0].first_seen for t in cancelled} == {T0}


def test_a_dry_run_sweep_stores_the_first_sighting_of_what_it_would_cancel():
    world = World(dry_run=True)
    tokens = stale(world, 4)
    world.run().sweep()
    assert set(world.audit.seen) == set(tokens)


def test_following_many_cancels_lists_only_those_still_in_progress():
    world = World(max_cancellations_per_run=1000)
    world.cc.complete_cancels = False
    tokens = stale(world, 12)  # more than a Get each is worth
    listed: list[tuple[Status, ...]] = []
    real_list = world.cc.list_requests

    def list_requests(statuses):
        listed.append(tuple(statuses))
        return real_list(statuses)

    def complete_half_then_all(now) -> None:
        done = tokens[:6] if world.clock.slept <= 1.0 else tokens
        for token in done:
            world.cc.requests[token] = replace(world.cc.requests[token], status=COMPLETE)

    world.cc.list_requests = list_requests  # type: ignore[method-assign]
    world.clock.on_sleep.append(complete_half_then_all)
    world.run().sweep()
    # While some are still listed in progress, only CANCEL_IN_PROGRESS is paged through; once
    # none is, CANCEL_COMPLETE (every cancel of the last 7 days) once, for positive evidence.
    assert listed[1:] == [(Status.CANCEL_IN_PROGRESS,)] * 2 + [(Status.CANCEL_COMPLETE,)]
    assert {world.audit.of(t)[0].outcome for t in tokens} == {Outcome.CANCEL_COMPLETE}


# ---------------------------------------------------------------- an SQS batch
def test_the_records_of_a_batch_are_followed_in_one_wait_and_recorded_in_one_write():
    world = World()
    world.cc.complete_cancels = False
    tokens = stale(world, 10)

    def complete_all(now) -> None:
        world.cc.complete_cancels = True

    world.clock.on_sleep.append(complete_all)
    run = world.run()
    for i, token in enumerate(tokens):
        run.process_message(token, f"m{i}", later=True)
    assert not [d for d in world.audit.writes if d.error_code != INTERRUPTED]
    calls = RecordCalls(world)
    assert run.finish_messages() == []
    assert world.clock.slept == 1.0  # one poll interval for all ten, not one each
    (final,) = calls.calls
    assert sorted(d.token for d in final) == sorted(tokens)
    assert {d.outcome for d in final} == {Outcome.CANCEL_COMPLETE}
    assert run.finish_messages() == []  # nothing is recorded twice


def test_a_batch_whose_decisions_cannot_be_recorded_fails_every_record_of_it():
    world = World()
    tokens = stale(world, 3)
    run = world.run()
    for i, token in enumerate(tokens):
        run.process_message(token, f"m{i}", later=True)
    world.audit.fail_record = StoreError("ProvisionedThroughputExceededException", "slow down")
    assert run.finish_messages() == ["m0", "m1", "m2"]
    # Each cancel was written ahead: a redelivery finds it and records the outcome.
    world.audit.fail_record = None
    redelivered = world.run("req-2")
    for i, token in enumerate(tokens):
        redelivered.process_message(token, f"m{i}", later=True)
    assert redelivered.finish_messages() == []
    assert world.cc.calls["cancel"] == 3
    assert {world.audit.of(t)[0].outcome for t in tokens} == {Outcome.CANCEL_COMPLETE}


@pytest.mark.parametrize(("rate", "workers"), [(0.1, 4), (5, 4), (25, 7), (200, 50), (1000, 64)])
def test_the_pool_is_sized_from_the_rate(rate, workers):
    assert workers_for(rate) == workers


def sqs_event(*bodies: str) -> dict:
    """An SQS batch of these bodies, message ids m0, m1, ..."""
    return {"Records": [sqs_record(body, f"m{i}") for i, body in enumerate(bodies)]}


def test_the_handler_fails_the_records_whose_decisions_could_not_be_recorded():
    world = World()
    done, failing = stale(world, 2)
    world.cc.errors[("get", failing)] = CloudControlError("ThrottlingException", "slow down")
    real_record = world.audit.record

    def refuse_final_writes(decisions: Sequence[Decision]) -> None:
        if any(d.error_code != INTERRUPTED for d in decisions):
            raise StoreError("InternalServerError", "DynamoDB had a bad moment")
        real_record(decisions)

    world.audit.record = refuse_final_writes  # type: ignore[method-assign]
    event = sqs_event(done, failing, "not a token!")
    response = _sqs_batch(world.run(), event, FakeLambdaContext())
    # m1 failed on its own (retries remain); m0 and m1 decided but were not recorded; m2 is
    # invalid: dead-lettered at once (its audit line is lost, the DLQ has it), so it succeeds.
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m0"}]}
    assert world.cc.status_of(done) is Status.CANCEL_COMPLETE
    assert [letter.error_code for letter in world.dlq.sent] == ["MalformedJson"]


def test_a_failed_audit_write_fails_its_own_token_not_its_chunk():
    world = World(max_cancellations_per_run=1000, calls_per_second=200, max_concurrency=1)
    tokens = stale(world, 25)  # one chunk
    bad_claim, bad_write = tokens[3], tokens[7]
    real_claim, real_record = world.audit.claim, world.audit.record
    refused = StoreError("InternalServerError", "injected")

    def claim(batch, owner, now, until):
        if bad_claim in batch:
            raise refused
        return real_claim(batch, owner, now, until)

    def record(decisions: Sequence[Decision]) -> None:
        # DynamoDB refuses any batch, and the one item, holding the bad write-ahead.
        if any(d.token == bad_write and d.error_code == INTERRUPTED for d in decisions):
            raise refused
        real_record(decisions)

    world.audit.claim = claim  # type: ignore[method-assign]
    world.audit.record = record  # type: ignore[method-assign]
    world.run().sweep()
    outcomes = {t: world.audit.of(t)[0].outcome for t in tokens}
    assert outcomes[bad_claim] is Outcome.FAILED and outcomes[bad_write] is Outcome.FAILED
    assert world.cc.status_of(bad_claim) is world.cc.status_of(bad_write) is Status.IN_PROGRESS
    others = set(tokens) - {bad_claim, bad_write}
    assert {outcomes[t] for t in others} == {Outcome.CANCEL_COMPLETE}
    (letter,) = world.dlq.sent
    assert sorted(letter.tokens) == sorted([bad_claim, bad_write])


def test_a_final_write_refused_dead_letters_only_the_decisions_it_held():
    world = World(max_cancellations_per_run=1000)
    tokens = stale(world, 60)
    poisoned = tokens[30]
    real_record = world.audit.record

    def record(decisions: Sequence[Decision]) -> None:
        final = [d for d in decisions if d.error_code != INTERRUPTED]
        if any(d.token == poisoned for d in final):
            raise StoreError("InternalServerError", "injected")
        real_record(decisions)

    world.audit.record = record  # type: ignore[method-assign]
    world.run().sweep()
    unrecorded = {t for letter in world.dlq.sent for t in letter.tokens}
    # The 25 decisions written with the refused one are dead-lettered (replayable); the other
    # 35 are in the audit table as cancelled, and none of them is in the DLQ.
    assert poisoned in unrecorded and len(unrecorded) == 25
    assert {letter.error_code for letter in world.dlq.sent} == {"Unrecorded"}
    recorded = [t for t in tokens if world.audit.of(t)[0].error_code != INTERRUPTED]
    assert set(recorded) == set(tokens) - unrecorded
    assert {world.audit.of(t)[0].outcome for t in recorded} == {Outcome.CANCEL_COMPLETE}
