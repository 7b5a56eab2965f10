"""Given dead letters in the DLQ, when an operator runs ``cc-reaper redrive``, then they are back
on the work queue, by SQS's message-move task where the endpoint has it. moto 5.2 has no
StartMessageMoveTask (it answers HTTP 500 with an HTML page): these tests show the fallback and
that it is announced, and that asking for the move task alone fails honestly."""

from __future__ import annotations

import json

from reaper import contracts

# Opaque to redrive (it moves bodies as they are), but shaped like the function's letters.
LETTER = {
    "kind": contracts.DEAD_LETTER_KIND,
    "version": contracts.DEAD_LETTER_VERSION,
    "requestTokens": ["abc123"],
    "mode": "cancel",
    "source": "sqs",
    "deliveryId": "m-1",
    "error": {"code": "ThrottlingException", "message": "Rate exceeded"},
    "original": "abc123",
    "failedAt": "2025-01-01T00:00:00+00:00",
}


def test_redrive_moves_every_dead_letter_back_to_the_work_queue_and_says_how(cli, stack):
    bodies = {json.dumps(LETTER), json.dumps(LETTER | {"deliveryId": "m-2"})}
    for body in bodies:
        stack.sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=body)

    result = cli("--json", "redrive")

    assert result.code == 0, result.err
    (report,) = result.json_lines()
    assert report["method"] == "receive-send-delete"
    assert (report["messagesBefore"], report["moved"], report["notMoved"]) == (2, 2, 0)
    assert "does not support StartMessageMoveTask" in report["note"]
    assert "note:" in result.err and "StartMessageMoveTask" in result.err
    assert set(stack.bodies(stack.work_queue_url)) == bodies
    assert stack.bodies(stack.dlq_url) == []


def test_an_empty_dlq_moves_nothing(cli, stack):
    result = cli("redrive", "--method", "receive-send")

    assert result.code == 0, result.err
    assert "Moved 0 of 0 message(s)" in result.out


def test_the_move_task_alone_fails_in_one_line_where_the_endpoint_lacks_it(cli, stack):
    stack.sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=json.dumps(LETTER))

    result = cli("redrive", "--method", "move-task")

    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line == (
        "cc-reaper: error: StartMessageMoveTask: 500: HTTP 500 with an HTML page, not an AWS "
        "error (API not implemented?)"
    )
    assert len(stack.bodies(stack.dlq_url)) == 1  # nothing moved
