"""Given fakes of every port, when the SQS path cancels, then nothing waits in Lambda: the
cancel is recorded at once and a delayed follow-up message reads the request later, hops while
it is still cancelling (bounded), records what it saw, and every way it can fail still ends in
a recorded decision."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from reaper.dead_letter_format import FOLLOW_UP_MAX_HOPS, follow_up_body, parse_follow_up
from reaper.errors import QueueError
from reaper.following import NOT_COMPLETE
from reaper.inputs import FollowUp, InvalidInput
from reaper.models import FOLLOW_NOT_SENT, Outcome, Source, Status
from reaper.parsing import parse_body

from .fakes import World, throttled

AT = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def cancelled_through_sqs(world: World) -> str:
    """One stale request cancelled by an SQS batch, its cancel still in progress."""
    world.cc.complete_cancels = False
    token = world.cc.add(age=timedelta(hours=7))
    run = world.run("batch")
    run.process_message(token, "m1", later=True)
    assert run.finish_messages() == []
    return token


def deliver(world: World, follow_up: FollowUp, receive_count: int = 1) -> list[str]:
    run = world.run(f"follow-{follow_up.hop}-{receive_count}")
    run.process_message(follow_up_body(follow_up), "f1", receive_count, later=True)
    return run.finish_messages()


def recorded(world: World, token: str):
    return world.audit.decisions[(token, "sqs", "m1")]


# ---------------------------------------------------------------- the message
def test_a_follow_up_body_reads_back_as_itself():
    follow_up = FollowUp("tok-1", Source.SQS, "m1", 3, AT)
    assert parse_body(follow_up_body(follow_up)) == follow_up


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"extra": 1}, "extra"),
        ({"version": 2}, "version"),
        ({"requestToken": "bad token!"}, "requestToken"),
        ({"source": "nowhere"}, "source"),
        ({"deliveryId": ""}, "deliveryId"),
        ({"hop": -1}, "hop"),
        ({"hop": FOLLOW_UP_MAX_HOPS + 1}, "hop"),
        ({"hop": True}, "hop"),
        ({"hop": "1"}, "hop"),
        ({"cancelledAt": "2025-01-01T12:00:00"}, "cancelledAt"),
        ({"cancelledAt": "yesterday"}, "cancelledAt"),
    ],
)
def test_a_bad_follow_up_is_refused_in_one_line_naming_the_field(change, field):
    body = json.loads(follow_up_body(FollowUp("tok-1", Source.SQS, "m1", 0, AT)))
    with pytest.raises(InvalidInput) as refused:
        parse_follow_up({**body, **change})
    assert refused.value.field == field and "\n" not in refused.value.message


def test_a_follow_up_without_its_token_is_refused():
    body = json.loads(follow_up_body(FollowUp("tok-1", Source.SQS, "m1", 0, AT)))
    del body["requestToken"]
    with pytest.raises(InvalidInput, match="requestToken"):
        parse_follow_up(body)


# ---------------------------------------------------------------- hops
def test_a_cancel_still_in_progress_hops_again_then_is_recorded_complete():
    world = World()
    token = cancelled_through_sqs(world)
    assert recorded(world, token).outcome is Outcome.CANCELLED
    ((first, delay),) = world.work.follow_ups
    assert (first.hop, delay) == (0, 5)
    world.clock.current += timedelta(seconds=delay)
    assert deliver(world, first) == []
    (_, (second, delay)) = world.work.follow_ups
    assert (second.hop, delay) == (1, 10)  # twice as long, nothing recorded
    assert recorded(world, token).outcome is Outcome.CANCELLED
    world.cc.requests[token] = replace(world.cc.requests[token], status=Status.CANCEL_COMPLETE)
    world.clock.current += timedelta(seconds=delay)
    assert deliver(world, second) == []
    done = recorded(world, token)
    assert done.outcome is Outcome.CANCEL_COMPLETE and done.status_after is Status.CANCEL_COMPLETE
    assert len(world.work.follow_ups) == 2 and world.cc.calls["cancel"] == 1
    # The cancel was written by its key alone (its follow-up was on its way); the final
    # state, by the follow-up, with its copy in the by-time index.
    assert [(d.outcome, d.follow_up_sent) for d in world.audit.writes[-2:]] == [
        (Outcome.CANCELLED, True),
        (Outcome.CANCEL_COMPLETE, False),
    ]


def test_a_cancel_never_seen_complete_is_recorded_with_what_was_seen_at_the_bound():
    world = World(cancel_follow_seconds=30)
    token = cancelled_through_sqs(world)
    ((follow_up, _),) = world.work.follow_ups
    world.clock.current += timedelta(seconds=31)  # past cancel_follow_seconds
    assert deliver(world, follow_up) == []
    final = recorded(world, token)
    assert final.outcome is Outcome.CANCELLED and final.error_code == NOT_COMPLETE
    assert final.status_after is Status.CANCEL_IN_PROGRESS
    assert len(world.work.follow_ups) == 1  # it stopped


def test_a_request_that_ended_otherwise_stays_recorded_as_the_cancel_it_was():
    world = World()
    token = cancelled_through_sqs(world)
    world.cc.requests[token] = replace(world.cc.requests[token], status=Status.FAILED)
    ((follow_up, _),) = world.work.follow_ups
    assert deliver(world, follow_up) == []
    final = recorded(world, token)
    assert final.outcome is Outcome.CANCELLED and final.status_after is Status.FAILED


def test_with_follow_off_no_follow_up_is_sent():
    world = World(cancel_follow_seconds=0)
    token = cancelled_through_sqs(world)
    assert recorded(world, token).outcome is Outcome.CANCELLED
    assert world.work.follow_ups == []


def test_a_follow_up_delivered_twice_records_once():
    world = World()
    token = cancelled_through_sqs(world)
    world.cc.complete_cancels = True
    ((follow_up, _),) = world.work.follow_ups
    assert deliver(world, follow_up) == []
    writes = len(world.audit.writes)
    assert deliver(world, follow_up) == []
    assert recorded(world, token).outcome is Outcome.CANCEL_COMPLETE
    assert len(world.audit.writes) == writes


# ---------------------------------------------------------------- failures
def test_a_follow_up_before_its_cancel_is_recorded_fails_and_its_replay_records():
    world = World(max_receive_count=2)
    token = world.cc.add(age=timedelta(hours=7))
    early = FollowUp(token, Source.SQS, "m1", 0, world.clock.now())
    # Its delivery has not recorded the cancel yet: the follow-up fails, every receive, and the
    # queue's redrive moves it to the DLQ as is.
    assert deliver(world, early, receive_count=1) == ["f1"]
    assert deliver(world, early, receive_count=2) == ["f1"]
    assert not world.audit.decisions
    run = world.run("batch")
    run.process_message(token, "m1", later=True)
    assert run.finish_messages() == []
    world.cc.complete_cancels = True
    # The operator's redrive: the same body back on the work queue.
    assert deliver(world, early, receive_count=1) == []
    assert recorded(world, token).outcome is Outcome.CANCEL_COMPLETE


def test_a_follow_up_that_cannot_be_sent_is_followed_by_the_next_sweep():
    world = World()
    world.work.fail = QueueError("ServiceUnavailable", "queue down")
    token = cancelled_through_sqs(world)
    waiting = recorded(world, token)
    assert waiting.outcome is Outcome.CANCELLED and waiting.error_code == FOLLOW_NOT_SENT
    assert not world.audit.writes[-1].follow_up_sent  # in the index, for the next sweep
    world.work.fail = None
    world.cc.requests[token] = replace(world.cc.requests[token], status=Status.CANCEL_COMPLETE)
    world.clock.current += timedelta(minutes=15)
    world.run("next-sweep").sweep()
    final = recorded(world, token)
    assert final.outcome is Outcome.CANCEL_COMPLETE and final.error_code is None
    assert world.audit.unfollowed(world.clock.now(), 10) == []


def test_a_follow_up_that_cannot_hop_again_is_left_to_the_next_sweep():
    world = World()
    token = cancelled_through_sqs(world)
    ((follow_up, _),) = world.work.follow_ups
    world.work.fail = QueueError("ServiceUnavailable", "queue down")
    assert deliver(world, follow_up) == []
    assert recorded(world, token).error_code == FOLLOW_NOT_SENT


def test_a_follow_up_whose_status_cannot_be_read_retries_then_records_what_it_knows():
    world = World(max_receive_count=2)
    token = cancelled_through_sqs(world)
    ((follow_up, _),) = world.work.follow_ups
    world.cc.errors[("get", token)] = throttled()
    assert deliver(world, follow_up, receive_count=1) == ["f1"]
    assert deliver(world, follow_up, receive_count=2) == []  # the last receive records
    final = recorded(world, token)
    assert final.outcome is Outcome.CANCELLED and final.error_code == NOT_COMPLETE


def test_a_cancel_is_counted_and_told_once_though_its_follow_up_records_it_again():
    world = World()
    events: list = []
    world.reaper.ports = replace(world.reaper.ports, events=RecordingBus(events))
    token = cancelled_through_sqs(world)
    world.cc.complete_cancels = True
    ((follow_up, _),) = world.work.follow_ups
    run = world.run("follow")
    run.process_message(follow_up_body(follow_up), "f1", 1, later=True)
    assert run.finish_messages() == []
    assert recorded(world, token).outcome is Outcome.CANCEL_COMPLETE
    assert sum(run.report.outcomes.values()) == 0  # the batch's run counted the cancel
    assert len(events) == 1  # told when it was made


class RecordingBus:
    def __init__(self, sink: list) -> None:
        self.sink = sink

    def put(self, entries):
        self.sink.extend(entries)
        return 0
