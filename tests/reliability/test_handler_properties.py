"""Given a batch of any records at all, when the real handler takes it (over in-memory ports),
then every bad record gets a clear error and one DLQ entry, its neighbours are decided as if
it were not there, and the batch as a whole never fails.

What is bad and what each good record names is judged by an oracle of the tests' own
(strategies.expected_of_body: json.loads and the documented fields), never by
reaper.parsing. Hundreds of examples per run (each runs the handler); a fixed seed with CI set.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import reaper.handler as handler
from hypothesis import example, given, settings
from hypothesis import strategies as st
from reaper.models import Status
from reaper.ports import DeadLetter
from reaper.service import ORIGINAL_MAX_CHARS
from reaper.settings import Settings

from tests.conftest import FakeLambdaContext, sqs_record
from tests.unit.fakes import World

from .strategies import (
    DOCUMENTED_ERROR_CODES,
    bodies,
    events,
    expected_of_body,
    token_bodies,
)

HANDLER_EXAMPLES = 300


@contextlib.contextmanager
def handler_over(world: World) -> Iterator[None]:
    settings = Settings("audit", "https://work", "https://dlq", world.config, tracing=False)
    saved = handler.container
    handler.container = lambda: handler.Container(settings, world.reaper, world.cc)  # type: ignore[assignment]
    try:
        yield
    finally:
        handler.container = saved  # type: ignore[assignment]


KNOWN = 5  # requests the fake Cloud Control holds, all of them stale
# Outcomes of a token this batch found stale and cancelled (the fake completes cancels).
CANCELLED_OUTCOMES = {"cancelled", "cancel_complete"}


@st.composite
def batches(draw: st.DrawFn) -> list[tuple[str, int | None]]:
    """1 to 10 records: about half name some of the known requests (``(shape, None)`` with a
    placeholder per known index), the rest are any body at all."""
    known = st.lists(st.integers(0, KNOWN - 1), min_size=1, max_size=3, unique=True).flatmap(
        lambda picks: token_bodies([f"@known{n}@" for n in picks])
    )
    return draw(st.lists(st.one_of(known, bodies), min_size=1, max_size=10))


def known_tokens() -> list[str]:
    # Hex and dashes: no strategy draws these by chance.
    return [f"known-{uuid.uuid4().hex}" for _ in range(KNOWN)]


def run_batch(resolved: list[str], tokens: list[str]) -> tuple[World, list[str], dict[str, Any]]:
    world = World(max_cancellations_per_run=1000)
    for token in tokens:
        world.cc.add(token=token)  # 12 hours old: stale
    ids = [str(uuid.uuid4()) for _ in resolved]
    with handler_over(world):
        response = handler.lambda_handler(
            {"Records": [sqs_record(b, i) for b, i in zip(resolved, ids, strict=True)]},
            FakeLambdaContext(),
        )
    return world, ids, response


def final_outcomes(world: World) -> Counter[tuple[str, str]]:
    """(token, outcome) of each delivery's last decision; an input with no valid token is
    audited under a key no token can be ("(invalid)"): left out."""
    return Counter(
        (d.token, d.outcome.value)
        for d in world.audit.decisions.values()
        if not d.token.startswith("(")
    )


@settings(max_examples=HANDLER_EXAMPLES)
@given(batches())
@example(["@known0@", "{not json", "@known1@"])
@example(["@known0@", json.dumps({"requestTokens": ["A" * 129]}), "@known0@"])
@example(["\u00e9" * 1000, "@known2@"])
@example(
    [json.dumps({"requestTokens": ["@known0@", "@known1@", "@known2@"]}), "@known3@", "@known4@"]
)
def test_a_bad_record_is_dead_lettered_alone_and_its_neighbours_are_decided(
    raw_bodies: list[str],
) -> None:
    tokens = known_tokens()

    def resolve(body: str) -> str:
        for n, token in enumerate(tokens):
            body = body.replace(f"@known{n}@", token)
        return body

    resolved = [resolve(b) for b in raw_bodies]
    expected = [expected_of_body(b) for b in resolved]
    world, ids, response = run_batch(resolved, tokens)

    assert response == {"batchItemFailures": []}
    letters = [s for s in world.dlq.sent if isinstance(s, DeadLetter)]
    decided = {token for token, _ in final_outcomes(world)}
    for body, message_id, want in zip(resolved, ids, expected, strict=True):
        mine = [letter for letter in letters if letter.delivery_id == message_id]
        assert len(mine) <= 1, (body, mine)  # never two letters for one record
        for letter in mine:
            assert letter.error_code in DOCUMENTED_ERROR_CODES and letter.error_message
            assert letter.original == body[:ORIGINAL_MAX_CHARS] and letter.tokens == ()
        if want.verdict == "invalid":
            assert [m.error_code for m in mine] == [want.code], (body, mine)
        elif want.verdict == "valid":
            assert mine == [], (body, mine)
            assert set(want.tokens) <= decided, (body, want.tokens)

    # Exactly the known requests some good record named were cancelled, each once.
    named = {t for want in expected if want.verdict == "valid" for t in want.tokens}
    assert world.cc.calls["cancel"] == len(named & set(tokens))
    for token in tokens:
        cancelled = world.cc.status_of(token) is not Status.IN_PROGRESS
        assert cancelled == (token in named), token
        said = {d.outcome.value for d in world.audit.writes if d.token == token}
        assert bool(said & CANCELLED_OUTCOMES) == (token in named), (token, said)

    # As if the bad records were not there: the same batch without them decides alike.
    kept = [b for b, want in zip(resolved, expected, strict=True) if want.verdict != "invalid"]
    if kept != resolved and kept:
        alone, _, alone_response = run_batch(kept, tokens)
        assert alone_response == {"batchItemFailures": []}
        assert final_outcomes(alone) == final_outcomes(world)
        assert alone.cc.calls == world.cc.calls


def expected_answer(event: Any) -> str | None:
    """What the documents say a direct event is, where they are plain: "sweep" for the
    schedule, "ignored" for CloudTrail's record of a call that starts no request, "invalid"
    for an event that is not a JSON object; None elsewhere."""
    if not isinstance(event, dict):
        return "invalid"
    if {"kind", "requestPayload", "requestContext"} & set(event):
        return None
    if (event.get("source"), event.get("detail-type")) == ("aws.events", "Scheduled Event"):
        return "sweep"
    detail = event.get("detail")
    if (
        (event.get("source"), event.get("detail-type"))
        == ("aws.cloudcontrolapi", "AWS API Call via CloudTrail")
        and isinstance(detail, dict)
        and detail.get("eventSource") == "cloudcontrolapi.amazonaws.com"
        and detail.get("eventName") == "CancelResourceRequest"
    ):
        return "ignored"
    return None


@settings(max_examples=HANDLER_EXAMPLES)
@given(events)
def test_any_direct_event_is_answered_and_never_raises(event: Any) -> None:
    world = World(max_cancellations_per_run=1000)
    stale = [world.cc.add() for _ in range(3)]
    young = world.cc.add(age=timedelta(minutes=5))  # never stale
    event_id = str(uuid.uuid4())
    if isinstance(event, dict):
        event = {**event, "id": event_id}
    with handler_over(world):
        result = handler.lambda_handler(event, FakeLambdaContext(aws_request_id=event_id))

    letters = [s for s in world.dlq.sent if isinstance(s, DeadLetter)]
    # One of the documented answers, and it agrees with what the fakes saw.
    shape = set(result)
    assert shape in ({"outcome", "error"}, {"ignored"}, {"outcomes"}, SWEEP_ANSWER), result
    want = expected_answer(event)
    if want == "invalid":
        assert result.get("outcome") == "invalid", result
    if want == "sweep":
        assert shape == SWEEP_ANSWER, result
    if want == "ignored":
        assert shape == {"ignored"}, result
    if shape == {"outcome", "error"}:
        assert result["outcome"] == "invalid" and isinstance(result["error"], str)
        (letter,) = letters
        assert letter.error_code in DOCUMENTED_ERROR_CODES and letter.tokens == ()
        assert letter.error_message == result["error"]
        assert world.audit.writes == [] or {d.outcome.value for d in world.audit.writes} == {
            "invalid"
        }
        assert sum(world.cc.calls.values()) == 0
    elif shape == {"ignored"}:
        assert isinstance(result["ignored"], str) and result["ignored"]
        assert letters == [] and world.audit.writes == [] and sum(world.cc.calls.values()) == 0
    elif shape == SWEEP_ANSWER:
        assert result == {"listed": 4, "decided": 3, "handedOff": 0, "stoppedEarly": False}
        assert {t for t in stale if world.cc.status_of(t) is not Status.IN_PROGRESS} == set(stale)
    else:
        counts = result["outcomes"]
        audited = Counter(d.outcome.value for d in world.audit.decisions.values())
        assert counts and all(isinstance(n, int) and n > 0 for n in counts.values())
        assert counts == dict(audited), (counts, audited)
        # Whatever the event named or matched, a young request is never cancelled.
        assert world.cc.status_of(young) is Status.IN_PROGRESS
        assert world.cc.calls["cancel"] <= len(stale)


SWEEP_ANSWER = {"listed", "decided", "handedOff", "stoppedEarly"}


@settings(max_examples=50)
@given(st.sampled_from([{"Records": []}, {"Records": None}, {}, [], None, "", 0]))
def test_an_empty_or_shapeless_invocation_is_one_clear_dead_letter(event: Any) -> None:
    world = World()
    with handler_over(world):
        result = handler.lambda_handler(event, FakeLambdaContext())
    letters = [s for s in world.dlq.sent if isinstance(s, DeadLetter)]
    assert result["outcome"] == "invalid" and result["error"]
    assert len(letters) == 1 and letters[0].error_code == "UnknownEventShape"
    assert letters[0].tokens == () and sum(world.cc.calls.values()) == 0
