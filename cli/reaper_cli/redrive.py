"""``cc-reaper redrive``: dead letters back to the work queue, where the handler replays them.

SQS's own message-move API (StartMessageMoveTask) does the move when the endpoint has it.
Only when the endpoint answers that the API is unsupported or not implemented (moto 5.2 has
neither StartMessageMoveTask nor ListMessageMoveTasks) does the CLI move the messages itself,
by receive, send, delete, and it says so.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import ClientError
from reaper.wiring import client_config

from reaper_cli.account import Account, Need
from reaper_cli.errors import client_error_line
from reaper_cli.render import Output

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

HELP = "move dead-letter messages back to the work queue (SQS StartMessageMoveTask)"
UNSUPPORTED_CODES = frozenset(
    {
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
        "InvalidAction",
        "NotImplemented",
        "UnknownOperationException",
    }
)
TERMINAL_TASK_STATUSES = frozenset({"COMPLETED", "CANCELLED", "FAILED"})
SQS_BATCH = 10
WAIT_POLL_SECONDS = 2.0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser("redrive", help=HELP, description=HELP)
    parser.add_argument(
        "--method",
        choices=("auto", "move-task", "receive-send"),
        default="auto",
        help="auto: the move task, or receive/send/delete only if the endpoint lacks it",
    )
    parser.add_argument(
        "--max-per-second", type=int, help="MaxNumberOfMessagesPerSecond of the move task"
    )
    parser.add_argument("--wait", action="store_true", help="wait for the move task to finish")
    parser.add_argument(
        "--max-messages", type=int, default=10_000, help="receive-send: at most this many"
    )
    parser.set_defaults(run=run)


@dataclass
class Moved:
    method: str
    messages_before: int
    moved: int | None = None
    task_handle: str | None = None
    task_status: str | None = None
    not_moved: int = 0
    note: str | None = None


def run(args: argparse.Namespace, account: Account, output: Output) -> int:
    found = account.resources(Need.WORK_QUEUE, Need.DEAD_LETTER_QUEUE)
    sqs = account.clients.sqs
    source_arn = _attribute(sqs, found.dead_letter_queue_url, "QueueArn")
    before = int(_attribute(sqs, found.dead_letter_queue_url, "ApproximateNumberOfMessages"))
    # Receive/send/delete takes a second per few batches; --wait polls every 2 s until done.
    with output.spinner() as progress:
        task = progress.add_task(f"moving {before} dead letter(s) to the work queue")

        def show(moved: Moved) -> None:
            progress.update(
                task,
                description=f"move task {moved.task_status or 'started'}: "
                f"{moved.moved or 0} of {moved.messages_before} moved",
            )

        result: Moved | None = None
        if args.method in ("auto", "move-task"):
            # Tried once: a retried start could start a second task.
            once = account.session.client(
                "sqs", config=client_config().merge(Config(retries={"total_max_attempts": 1}))
            )
            destination_arn = _attribute(sqs, found.work_queue_url, "QueueArn")
            try:
                result = _move_task(once, source_arn, destination_arn, before, args, show=show)
            except ClientError as exc:
                if args.method == "move-task" or not unsupported(exc):
                    raise
                note = (
                    "this endpoint does not support StartMessageMoveTask "
                    f"({client_error_line(exc)}): moved the messages by receive, send, delete "
                    "instead"
                )
                output.note(f"[yellow]note:[/] {note}")
                result = _receive_send_delete(
                    sqs,
                    found.dead_letter_queue_url,
                    found.work_queue_url,
                    before,
                    args.max_messages,
                )
                result.note = note
        if result is None:
            result = _receive_send_delete(
                sqs, found.dead_letter_queue_url, found.work_queue_url, before, args.max_messages
            )
    if output.json:
        output.emit(
            {
                "method": result.method,
                "messagesBefore": result.messages_before,
                "moved": result.moved,
                "notMoved": result.not_moved,
                "taskHandle": result.task_handle,
                "taskStatus": result.task_status,
                "note": result.note,
            }
        )
    elif result.task_handle:
        moved = "" if result.moved is None else f", {result.moved} moved"
        output.out.print(
            f"Message move task {result.task_status or 'started'} ({result.messages_before} "
            f"message(s) in the DLQ{moved}); task handle {result.task_handle}"
        )
    else:
        output.out.print(
            f"Moved {result.moved} of {result.messages_before} message(s) from the DLQ to the "
            f"work queue by receive/send/delete"
            + (f"; {result.not_moved} not moved (still in the DLQ)" if result.not_moved else "")
        )
    return 1 if result.not_moved or result.task_status in ("FAILED", "CANCELLED") else 0


def unsupported(error: ClientError) -> bool:
    """The endpoint lacks the API: an unsupported-operation code, or (moto) an HTTP 500 page
    that is not an AWS error at all."""
    details = error.response.get("Error", {})
    if details.get("Code") in UNSUPPORTED_CODES:
        return True
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = str(details.get("Message", "")).lstrip().lower()
    return status in (500, 501) and message.startswith(("<!doctype html", "<html"))


def _attribute(sqs: SQSClient, url: str, name: str) -> str:
    response: Any = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[name])  # type: ignore[list-item]
    return str(response["Attributes"][name])


def _move_task(
    sqs: SQSClient,
    source_arn: str,
    destination_arn: str,
    before: int,
    args: argparse.Namespace,
    *,
    show: Callable[[Moved], None],
) -> Moved:
    params: dict[str, Any] = {"SourceArn": source_arn, "DestinationArn": destination_arn}
    if args.max_per_second:
        params["MaxNumberOfMessagesPerSecond"] = args.max_per_second
    handle = sqs.start_message_move_task(**params)["TaskHandle"]
    result = Moved("move-task", before, task_handle=handle)
    while args.wait:
        tasks: list[Any] = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=1)[
            "Results"
        ]
        # The newest task is the one just started (a finished task has no TaskHandle).
        task: Any = tasks[0] if tasks else {}
        result.task_status = task.get("Status")
        result.moved = task.get("ApproximateNumberOfMessagesMoved")
        if result.task_status in TERMINAL_TASK_STATUSES:
            break
        show(result)
        time.sleep(WAIT_POLL_SECONDS)
    return result


def _receive_send_delete(
    sqs: SQSClient, source_url: str, destination_url: str, before: int, limit: int
) -> Moved:
    """At-least-once: a message is deleted from the DLQ only after the send succeeded."""
    result = Moved("receive-send-delete", before, moved=0)
    empty_receives = 0
    while (result.moved or 0) + result.not_moved < limit and empty_receives < 2:
        messages = sqs.receive_message(
            QueueUrl=source_url,
            MaxNumberOfMessages=min(SQS_BATCH, limit - (result.moved or 0) - result.not_moved),
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            empty_receives += 1
            continue
        entries: list[Any] = [
            {
                "Id": str(i),
                "MessageBody": m["Body"],
                "MessageAttributes": m.get("MessageAttributes", {}),
            }
            for i, m in enumerate(messages)
        ]
        sent = sqs.send_message_batch(QueueUrl=destination_url, Entries=entries)
        ok = {s["Id"] for s in sent.get("Successful", [])}
        done = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(messages)
            if str(i) in ok
        ]
        if done:
            sqs.delete_message_batch(QueueUrl=source_url, Entries=done)  # type: ignore[arg-type]
        result.moved = (result.moved or 0) + len(done)
        result.not_moved += len(messages) - len(done)
    return result
