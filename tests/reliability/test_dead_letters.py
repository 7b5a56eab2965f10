"""Given a body the reaper accepts in size (``MAX_BODY_BYTES``) but cannot use, when the real
handler takes it (moto's SQS and DynamoDB), then its dead-letter record, with the error, reaches
the DLQ at once, and is itself a body the reaper accepts: a DLQ redrive feeds it back to the
work queue, so a record larger than ``MAX_BODY_BYTES`` could never be replayed (and one larger
than the queue's maximum message size could never be sent; moto does not enforce that size)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import reaper.handler as handler
from reaper.parsing import MAX_BODY_BYTES

from tests.conftest import FakeLambdaContext, Stack, sqs_record


@pytest.mark.parametrize(
    "body",
    [
        "\u00e9" * 120_000,  # 240 KB of UTF-8; \u00e9 escapes to 6 bytes in JSON
        '"' * 200_000,  # 200 KB; each quote escapes to 2 bytes
        "{" + "\u4e2d" * 80_000,  # 240 KB; CJK escapes to 6 bytes
        "\x01" * 200_000,  # 200 KB; a control character escapes to 6 bytes
    ],
    ids=["latin-1 text", "quotes", "broken JSON of CJK text", "control characters"],
)
def test_a_large_unusable_body_is_dead_lettered_with_its_error_at_once(
    stack: Stack, emulator: Any, body: str
) -> None:
    assert len(body.encode()) <= MAX_BODY_BYTES  # the reaper accepts its size
    handler.container.cache_clear()
    try:
        response = handler.lambda_handler({"Records": [sqs_record(body)]}, FakeLambdaContext())
    finally:
        handler.container.cache_clear()
    letters = stack.dead_letters()
    assert response == {"batchItemFailures": []}
    (letter,) = letters
    assert letter["kind"] == "reaper.dead-letter" and letter["error"]["code"] == "MalformedJson"
    assert body.startswith(letter["original"][:1000])
    assert len(json.dumps(letter).encode()) <= MAX_BODY_BYTES  # replayable as is
