"""A sweep hands off what its own time cannot hold right after listing, with what it read of each
request kept in the audit table; the receiver cancels without reading the request again, trusts
only the table, and leaves the final state to the next sweep's pass over the cancel listings."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from reaper.adapters.queues import work_message_body
from reaper.clock import Deadline
from reaper.errors import StoreError
from reaper.handoff import HandOffRef, Reading, decode, encode
from reaper.models import FOLLOWED_BY_NEXT_SWEEP, Outcome, Status
from reaper.parsing import InvalidInput, parse_body

from .fakes import World


def stale(world: World, n: int) -> list[str]:
    return [world.cc.add(age=timedelta(hours=8)) for _ in range(n)]


def sweep_with_seconds(world: World, seconds: float, request_id: str = "sweep-1") -> None:
    deadline = Deadline(lambda: int(seconds * 1000), margin_seconds=1)
    world.reaper.run(request_id, deadline).sweep()


def latest(world: World, token: str):
    """The token's decision written last (a later write of the same key replaces it)."""
    return next(d for d in reversed(world.audit.writes) if d.token == token)


def handed_off_bodies(world: World) -> list[str]:
    return [work_message_body(m) for m in world.work.sent]


def test_a_sweep_hands_off_at_once_what_its_time_cannot_hold():
    # 5 calls/s, 11 s left (10 s before the margin): 0.9 x 10 x 5 = 45 cancels its own.
    world = World(calls_per_second=5, max_concurrency=1, max_cancellations_per_run=1000)
    tokens = stale(world, 60)
    sweep_with_seconds(world, 11)
    handed = [t for m in world.work.sent for t in m.tokens]
    assert len(handed) == 15 and world.cc.calls["cancel"] == 45
    assert set(handed).isdisjoint(
        t for t in tokens if world.cc.status_of(t) is not Status.IN_PROGRESS
    )
    # every message names the item holding what the sweep read of its tokens
    for message in world.work.sent:
        assert message.handoff is not None
        readings = world.audit.handoff_readings(message.handoff)
        assert set(readings) == set(message.tokens)
        assert all(r.request.status is Status.IN_PROGRESS for r in readings.values())


def test_the_receiver_cancels_without_reading_and_the_next_sweep_records_the_end():
    world = World(calls_per_second=5, max_concurrency=1, max_cancellations_per_run=1000)
    stale(world, 60)
    sweep_with_seconds(world, 11)
    bodies = handed_off_bodies(world)
    gets_before = world.cc.calls["get"]
    run = world.run("receiver")
    for n, body in enumerate(bodies):
        run.process_message(body, f"m{n}", later=True)
    assert run.finish_messages() == []
    assert world.cc.calls["get"] == gets_before  # no status read: the sweep's reading
    handed = [t for m in world.work.sent for t in m.tokens]
    for token in handed:
        (decision,) = world.audit.of(token)
        assert decision.outcome is Outcome.CANCELLED
        assert decision.error_code == FOLLOWED_BY_NEXT_SWEEP
    assert world.work.follow_ups == []  # no follow-up read per handed-off cancel
    world.clock.sleep(15 * 60)
    world.reaper.run("sweep-2").sweep()
    for token in handed:
        assert latest(world, token).outcome is Outcome.CANCEL_COMPLETE


def test_a_redelivery_after_an_interrupted_cancel_reads_the_request_again():
    world = World(calls_per_second=5, max_concurrency=1, max_cancellations_per_run=1000)
    stale(world, 50)
    sweep_with_seconds(world, 11)
    body = handed_off_bodies(world)[0]
    (token, *_) = json.loads(body)["requestTokens"]
    real_cancel = world.cc.cancel

    def lands_then_dies(t: str):
        real_cancel(t)
        raise KeyboardInterrupt

    world.cc.cancel = lands_then_dies  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        world.run("a").process_message(body, "m1")
    world.cc.cancel = real_cancel  # type: ignore[method-assign]
    cancels = world.cc.calls["cancel"]
    world.run("b").process_message(body, "m1", receive_count=2)
    # the first token's cancel landed: read, not cancelled twice; the others cancelled
    assert latest(world, token).outcome in (Outcome.CANCELLED, Outcome.CANCEL_COMPLETE)
    assert world.cc.calls["cancel"] == cancels + len(json.loads(body)["requestTokens"]) - 1


@pytest.mark.parametrize("lost", ["unreadable", "rewritten"])
def test_tokens_without_a_reading_are_read_from_cloud_control(lost):
    world = World(calls_per_second=5, max_concurrency=1, max_cancellations_per_run=1000)
    stale(world, 50)
    sweep_with_seconds(world, 11)
    body = handed_off_bodies(world)[0]
    tokens = json.loads(body)["requestTokens"]
    if lost == "unreadable":
        world.audit.fail_handoff = StoreError("ServiceUnavailable", "down")
    else:  # a retried sweep rewrote the item with other requests
        world.audit.handoffs = {ref: [] for ref in world.audit.handoffs}
    gets = world.cc.calls["get"]
    world.run("r").process_message(body, "m1")
    assert world.cc.calls["get"] >= gets + len(tokens)
    assert all(latest(world, t).outcome is Outcome.CANCEL_COMPLETE for t in tokens)


def test_a_hand_off_the_table_refuses_goes_out_sized_for_a_read_each():
    world = World(calls_per_second=5, max_concurrency=1, max_cancellations_per_run=1000)
    stale(world, 200)
    world.audit.fail_handoff = StoreError("ServiceUnavailable", "down")
    sweep_with_seconds(world, 11)
    assert world.work.sent and all(m.handoff is None for m in world.work.sent)
    with_reading = World(calls_per_second=5, max_concurrency=1, max_cancellations_per_run=1000)
    stale(with_reading, 200)
    sweep_with_seconds(with_reading, 11)
    assert len(world.work.sent[0].tokens) < len(with_reading.work.sent[0].tokens)


def test_a_young_request_in_a_forged_reading_is_still_judged_by_the_table():
    """The message says where to read; what is read comes from the table only."""
    world = World(max_cancellations_per_run=1000)
    young = world.cc.add(age=timedelta(minutes=5))
    # A real hand-off item, of another (old) request: it says nothing about this token.
    old = world.cc.requests[world.cc.add(age=timedelta(hours=8))]
    (ref,) = world.audit.store_handoff(
        "sweep#real", [[Reading(old, world.clock.now() - timedelta(hours=9))]], world.clock.now()
    )
    for n, run in enumerate(("sweep#nobody", ref.run)):
        body = json.dumps(
            {
                "requestTokens": [young],
                "source": "sweep",
                "mode": "cancel",
                "handoff": {"run": run, "part": ref.part},
            }
        )
        gets = world.cc.calls["get"]
        world.run().process_message(body, f"forged-{n}")
        assert world.cc.calls["get"] == gets + 1  # read from Cloud Control, like any token
    assert world.cc.calls["cancel"] == 0
    assert latest(world, young).outcome is Outcome.NOT_STALE


@pytest.mark.parametrize(
    ("handoff", "field"),
    [
        ("x", "handoff"),
        ({"run": "", "part": 0}, "handoff.run"),
        ({"run": "sweep#r", "part": -1}, "handoff.part"),
        ({"run": "sweep#r", "part": True}, "handoff.part"),
    ],
)
def test_a_bad_hand_off_reference_is_one_clear_line(handoff, field):
    body = json.dumps({"requestTokens": ["tok1"], "source": "sweep", "handoff": handoff})
    with pytest.raises(InvalidInput) as raised:
        parse_body(body)
    assert raised.value.field == field


def test_readings_survive_their_encoding_and_a_bad_row_is_left_out():
    world = World()
    token = world.cc.add(age=timedelta(hours=8))
    request = world.cc.requests[token]
    reading = Reading(request, world.clock.now() - timedelta(hours=9))
    text = encode([reading])
    assert decode(text) == {token: reading}
    rows = [*json.loads(text), {"t": "x"}, "junk"]
    assert decode(json.dumps(rows)) == {token: reading}
    assert decode("not json") == {}
    assert HandOffRef("sweep#r", 3) == HandOffRef("sweep#r", 3)
