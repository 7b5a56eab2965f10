"""Given fakes of every port, the work a sweep or an SQS batch shares: the decision written ahead
in the claim, first sightings only where they are still needed, one follow for many cancels
(a sweep) or follow-up messages and no wait (an SQS batch), and pools sized from the rate."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
from reaper.cancelling import Canceller
from reaper.clock import Deadline
from reaper.dead_letter_format import follow_up_body
from reaper.errors import CloudControlError, StoreError
from reaper.handler import _sqs_batch
from reaper.models import Decision, KillSwitch, Outcome, Status
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


def test_a_sweep_writes_each_cancel_ahead_in_its_claim_before_cancelling():
    world = World(max_cancellations_per_run=1000, calls_per_second=200, max_concurrency=1)
    tokens = stale(world, 60)
    calls = RecordCalls(world)
    cancelled_before_written: list[str] = []
    real_cancel = world.cc.cancel

    def cancel(token: str):
        ahead = world.audit.aheads.get(token)
        if ahead is None or ahead.error_code != INTERRUPTED:
            cancelled_before_written.append(token)
        return real_cancel(token)

    world.cc.cancel = cancel  # type: ignore[method-assign]
    world.run().sweep()
    assert not cancelled_before_written
    # One write per cancel before it (the claim) and one after (the outcome): no separate
    # write-ahead item.
    assert not calls.write_aheads()
    assert {world.audit.of(t)[0].outcome for t in tokens} == {Outcome.CANCEL_COMPLETE}
    assert sum(len(c) for c in calls.calls) == len(tokens)


def test_a_chunk_is_sized_so_it_ends_well_inside_the_deadline_margin(monkeypatch):
    world = World(max_cancellations_per_run=1000, calls_per_second=20, max_concurrency=1)
    stale(world, 30)
    chunks: list[int] = []
    real = Canceller.claim_and_cancel

    def claim_and_cancel(self, chosen, delivery):
        chunks.append(len(chosen))
        return real(self, chosen, delivery)

    monkeypatch.setattr(Canceller, "claim_and_cancel", claim_and_cancel)
    # 20 calls/s over 4 workers is 5/s each; a 3 s margin allows 1 s of it: 5 a chunk.
    world.reaper.run("r", Deadline(lambda: 600_000, margin_seconds=3)).sweep()
    assert set(chunks) == {5}


def test_a_sweep_stores_first_sightings_only_of_requests_still_pending_after_it():
    world = World(max_cancellations_per_run=1000)
    cancelled = stale(world, 3)
    young = world.cc.add(age=timedelta(minutes=5))
    failing = world.cc.add(age=timedelta(hours=7))
    world.cc.errors[("cancel", failing)] = CloudControlError("AccessDeniedException", "no")
    world.run().sweep()
    # The young request and the one whose cancel failed will be listed again: their first
    # sighting must hold their age. The cancelled ones are gone: their decision says when.
    # The failed one has a decision, and keeps its own item (a replay of its dead letter
    # reads it); the healthy one, only counted, is packed for the next sweep.
    assert set(world.audit.seen) == {failing}
    assert world.audit.packed == {young: T0}
    assert {world.audit.of(t)[0].first_seen for t in cancelled} == {T0}


def test_the_next_sweep_ages_a_request_from_its_packed_first_sighting():
    # Seen young by one sweep, a request whose EventTime keeps moving forward is stale by
    # its packed first sighting at the next, and only then: 6 h after it was first seen.
    world = World()
    token = world.cc.add(age=timedelta(minutes=5))
    world.run("sweep-1").sweep()
    assert world.audit.packed == {token: T0} and world.audit.of(token) == []
    for hours, outcome in ((5, None), (6, Outcome.CANCEL_COMPLETE)):
        world.clock.current = T0 + timedelta(hours=hours, seconds=1)
        moved = world.clock.current - timedelta(minutes=1)
        world.cc.requests[token] = replace(world.cc.requests[token], event_time=moved)
        world.run(f"sweep-{hours}").sweep()
        assert [d.outcome for d in world.audit.of(token)] == ([outcome] if outcome else [])
    assert world.audit.of(token)[0].first_seen == T0


def test_a_request_decided_but_not_recorded_keeps_its_own_first_sighting():
    # Its dead letter's replay is a token delivery, which reads only the token's own item.
    world = World()
    world.audit.switch = KillSwitch(engaged=True)
    (token,) = stale(world, 1)
    young = world.cc.add(age=timedelta(minutes=5))
    world.audit.fail_record = StoreError("ServiceUnavailable", "table down")
    world.run().sweep()
    assert world.audit.of(token) == [] and [len(m.tokens) for m in world.dlq.sent] == [1]
    assert set(world.audit.seen) == {token} and world.audit.packed == {young: T0}


def test_packs_that_cannot_be_read_only_make_requests_look_younger():
    world = World()
    token = world.cc.add(age=timedelta(minutes=5))
    world.run("sweep-1").sweep()
    world.audit.fail_packs = StoreError("ServiceUnavailable", "down")
    world.clock.current = T0 + timedelta(hours=7)
    moved = world.clock.current - timedelta(minutes=1)
    world.cc.requests[token] = replace(world.cc.requests[token], event_time=moved)
    world.run("sweep-2").sweep()  # judged by its EventTime alone: not stale, nothing cancelled
    assert world.audit.of(token) == [] and world.cc.status_of(token) is Status.IN_PROGRESS
    assert world.audit.packed == {token: T0}  # the first sighting, as sweep-1 packed it


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
def test_the_records_of_a_batch_never_wait_for_their_cancels_and_are_recorded_in_one_write():
    world = World()
    world.cc.complete_cancels = False
    tokens = stale(world, 10)
    run = world.run()
    for i, token in enumerate(tokens):
        run.process_message(token, f"m{i}", later=True)
    assert not world.audit.writes and world.cc.calls["cancel"] == 0  # decided at the end
    calls = RecordCalls(world)
    assert run.finish_messages() == []
    assert world.clock.slept == 0.0  # nothing waits in Lambda
    (final,) = calls.calls
    assert sorted(d.token for d in final) == sorted(tokens)
    assert {(d.outcome, d.status_after) for d in final} == {
        (Outcome.CANCELLED, Status.CANCEL_IN_PROGRESS)
    }
    # One delayed follow-up per cancel, which reads the request once and records what it saw.
    assert sorted(f.token for f, _ in world.work.follow_ups) == sorted(tokens)
    assert {(f.hop, delay) for f, delay in world.work.follow_ups} == {(0, 5)}
    for token in tokens:
        world.cc.requests[token] = replace(world.cc.requests[token], status=COMPLETE)
    later = world.run("req-2")
    for i, (follow_up, _) in enumerate(world.work.follow_ups):
        later.process_message(follow_up_body(follow_up), f"f{i}", later=True)
    assert later.finish_messages() == []
    assert {world.audit.of(t)[0].outcome for t in tokens} == {Outcome.CANCEL_COMPLETE}
    assert run.finish_messages() == []  # nothing is recorded twice


def test_the_records_of_a_batch_are_decided_at_once_from_a_pool():
    world = World()
    tokens = stale(world, 8)
    threads: set[str] = set()
    real_get = world.cc.get_status

    def get_status(token: str):
        threads.add(threading.current_thread().name)
        time.sleep(0.02)  # a call's latency: the others overlap it
        return real_get(token)

    world.cc.get_status = get_status  # type: ignore[method-assign]
    run = world.run()
    for i, token in enumerate(tokens):
        run.process_message(token, f"m{i}", later=True)
    assert run.finish_messages() == []
    assert len(threads) > 1 and all(name.startswith("record") for name in threads)
    assert {world.audit.of(t)[0].outcome for t in tokens} == {Outcome.CANCELLED}


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
        if decisions:
            raise StoreError("InternalServerError", "DynamoDB had a bad moment")
        real_record(decisions)

    world.audit.record = refuse_final_writes  # type: ignore[method-assign]
    event = sqs_event(done, failing, "not a token!")
    response = _sqs_batch(world.run(), event, FakeLambdaContext())
    # m1 failed on its own (retries remain); m0 and m1 decided but were not recorded; m2 is
    # invalid: dead-lettered at once (its audit line is lost, the DLQ has it), so it succeeds.
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m0"}]}
    assert world.cc.status_of(done) in (Status.CANCEL_IN_PROGRESS, Status.CANCEL_COMPLETE)
    assert world.audit.aheads[done].error_code == INTERRUPTED  # what m0's redelivery finds
    assert [letter.error_code for letter in world.dlq.sent] == ["MalformedJson"]


def test_a_refused_claim_fails_its_own_token_not_its_chunk():
    world = World(max_cancellations_per_run=1000, calls_per_second=200, max_concurrency=1)
    tokens = stale(world, 25)  # one chunk
    bad = {tokens[3], tokens[7]}
    real_claim = world.audit.claim_ahead
    refused = StoreError("InternalServerError", "injected")

    def claim_ahead(batch, owner, now, until, ahead=None):
        if bad & set(batch):
            raise refused
        return real_claim(batch, owner, now, until, ahead)

    world.audit.claim_ahead = claim_ahead  # type: ignore[method-assign]
    world.run().sweep()
    outcomes = {t: world.audit.of(t)[0].outcome for t in tokens}
    assert {outcomes[t] for t in bad} == {Outcome.FAILED}
    assert {world.cc.status_of(t) for t in bad} == {Status.IN_PROGRESS}  # never cancelled
    assert {outcomes[t] for t in set(tokens) - bad} == {Outcome.CANCEL_COMPLETE}
    (letter,) = world.dlq.sent
    assert sorted(letter.tokens) == sorted(bad)


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
    recorded = [t for t in tokens if world.audit.of(t)]
    assert set(recorded) == set(tokens) - unrecorded
    assert {world.audit.of(t)[0].outcome for t in recorded} == {Outcome.CANCEL_COMPLETE}
