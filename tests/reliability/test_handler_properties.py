"""Given a batch of any records at all, when the real handler takes it (over in-memory ports),
then every bad record gets a clear error and one DLQ entry, its neighbours are decided as if
it were not there, and the batch as a whole never fails.

Hundreds of examples per run (each runs the handler); a fixed seed with CI set.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import reaper.handler as handler
from hypothesis import example, given, settings
from hypothesis import strategies as st
from reaper.parsing import InvalidInput, TokenRequest, parse_body
from reaper.ports import DeadLetter
from reaper.service import ORIGINAL_MAX_CHARS
from reaper.settings import Settings

from tests.conftest import FakeLambdaContext, sqs_record
from tests.unit.fakes import World

from .strategies import bodies, events

HANDLER_EXAMPLES = 300


@contextlib.contextmanager
def handler_over(world: World) -> Iterator[None]:
    settings = Settings("audit", "https://work", "https://dlq", world.config, tracing=False)
    saved = handler.container
    handler.container = lambda: handler.Container(settings, world.reaper)  # type: ignore[assignment]
    try:
        yield
    finally:
        handler.container = saved  # type: ignore[assignment]


@st.composite
def batches(draw: st.DrawFn) -> list[str]:
    """1 to 10 bodies; about half name requests the fake Cloud Control knows (``known:<n>``)."""
    known = st.integers(0, 4).map(lambda n: f"known:{n}")
    return draw(st.lists(st.one_of(known, bodies), min_size=1, max_size=10))


def run_batch(raw_bodies: list[str]) -> tuple[World, list[str], dict[str, Any]]:
    world = World(max_cancellations_per_run=1000)
    tokens = [world.cc.add() for _ in range(5)]
    resolved = [
        json.dumps({"requestToken": tokens[int(b.split(":")[1])]}) if b.startswith("known:") else b
        for b in raw_bodies
    ]
    ids = [str(uuid.uuid4()) for _ in resolved]
    with handler_over(world):
        response = handler.lambda_handler(
            {"Records": [sqs_record(b, i) for b, i in zip(resolved, ids, strict=True)]},
            FakeLambdaContext(),
        )
    return world, resolved, {"ids": ids, "response": response}


@settings(max_examples=HANDLER_EXAMPLES)
@given(batches())
@example(["known:0", "{not json", "known:1"])
@example(["known:0", json.dumps({"requestTokens": ["A" * 129]}), "known:0"])
@example(["\u00e9" * 1000, "known:2"])
def test_a_bad_record_is_dead_lettered_alone_and_its_neighbours_are_decided(
    raw_bodies: list[str],
) -> None:
    world, resolved, out = run_batch(raw_bodies)
    assert out["response"] == {"batchItemFailures": []}
    letters = [s for s in world.dlq.sent if isinstance(s, DeadLetter)]
    decided = {d.token for d in world.audit.writes}
    for body, message_id in zip(resolved, out["ids"], strict=True):
        try:
            parsed = parse_body(body)
        except InvalidInput as error:
            mine = [letter for letter in letters if letter.delivery_id == message_id]
            assert len(mine) == 1, (body, mine)
            assert mine[0].error_code == error.code.value
            assert mine[0].error_message.startswith(error.field)
            assert mine[0].original == body[:ORIGINAL_MAX_CHARS]
            assert mine[0].tokens == ()
            continue
        assert not [letter for letter in letters if letter.delivery_id == message_id]
        if isinstance(parsed, TokenRequest):
            assert set(parsed.tokens) <= decided, (body, parsed.tokens)
    # Every cancel was of a request the fake knows as stale; nothing else reached cancel.
    assert world.cc.calls["cancel"] <= 5


@settings(max_examples=HANDLER_EXAMPLES)
@given(events)
def test_any_direct_event_is_answered_and_never_raises(event: Any) -> None:
    world = World(max_cancellations_per_run=1000)
    event_id = str(uuid.uuid4())
    if isinstance(event, dict):
        event = {**event, "id": event_id}
    with handler_over(world):
        result = handler.lambda_handler(event, FakeLambdaContext(aws_request_id=event_id))
    assert isinstance(result, dict)
    letters = [s for s in world.dlq.sent if isinstance(s, DeadLetter)]
    if result.get("outcome") == "invalid":
        assert len(letters) == 1 and letters[0].error_code and letters[0].tokens == ()


@settings(max_examples=50)
@given(st.sampled_from([{"Records": []}, {"Records": None}, {}, [], None, "", 0]))
def test_an_empty_or_shapeless_invocation_is_one_clear_dead_letter(event: Any) -> None:
    world = World()
    with handler_over(world):
        result = handler.lambda_handler(event, FakeLambdaContext())
    letters = [s for s in world.dlq.sent if isinstance(s, DeadLetter)]
    assert result["outcome"] == "invalid" and result["error"]
    assert len(letters) == 1 and letters[0].error_code == "UnknownEventShape"
