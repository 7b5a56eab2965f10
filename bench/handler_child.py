"""The reaper's real handler in a fresh process: one scheduled sweep, or SQS batches.

Run by ``bench.run_all`` with the function's environment; prints one JSON line of numbers
(the handler's own log lines go to stdout before it, as in Lambda, and are counted). Imports
only what the function imports, so the peak RSS (``ru_maxrss``) is the reaper's alone.

    python -m bench.handler_child sweep --remaining-ms 900000
    python -m bench.handler_child sqs --tokens-file FILE --batch 10
    python -m bench.handler_child serve      # a warm container: one JSON job a stdin line

``serve`` is one Lambda container kept warm (bench.chain drives several): each stdin line is a
job, ``{"event": ..., "remaining_ms": ...}`` (no event: a scheduled one), answered by one
``BENCH-INVOKE`` line; at end of input, the usual result line (CPU, peak RSS, calls).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

# Plain constants that the function imports anyway: the handler's timed cold import below
# loses nothing measurable by finding this module already loaded.
from reaper.contracts import SCHEDULE_DETAIL_TYPE, SCHEDULE_EVENT_SOURCE, TABLE_GSI_PARTITION_KEY

RESULT_PREFIX = "BENCH-RESULT "
INVOKE_PREFIX = "BENCH-INVOKE "


class LambdaContext:
    """What Powertools and the handler read from Lambda's context; counts down like Lambda's."""

    function_name = "cloudcontrol-reaper"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cloudcontrol-reaper"
    log_group_name = "/aws/lambda/cloudcontrol-reaper"
    log_stream_name = "bench"

    def __init__(self, remaining_ms: int) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._end = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._end - time.monotonic()) * 1000))


def scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": SCHEDULE_DETAIL_TYPE,
        "source": SCHEDULE_EVENT_SOURCE,
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/cloudcontrol-reaper-sweep"],
        "detail": {},
    }


def sqs_event(tokens: list[str]) -> dict[str, Any]:
    """One SQS batch: a record per token, each body a bare token (the simplest accepted form)."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "bench",
                "body": token,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(int(time.time() * 1000)),
                    "SenderId": "bench",
                    "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:cloudcontrol-reaper-work",
                "awsRegion": "us-east-1",
            }
            for token in tokens
        ]
    }


GSI_ITEM_OVERHEAD = 100  # bytes DynamoDB adds to each index entry's size


def attribute_size(value: dict[str, Any]) -> int:
    """An attribute value's size as DynamoDB bills it (close enough for units: numbers are
    taken as (digits + 1) / 2 + 1 bytes)."""
    kind, data = next(iter(value.items()))
    if kind in ("S", "B"):
        return len(str(data).encode())
    if kind == "N":
        return (len(str(data)) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "BS"):
        return sum(len(str(v).encode()) for v in data)
    if kind == "NS":
        return sum((len(str(v)) + 1) // 2 + 1 for v in data)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in data)
    return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in data.items())  # M


def write_units(item: dict[str, Any]) -> int:
    """Units of one item written: a unit per started KB, and as many again for its copy in
    the by-time index (projection ALL) when it carries the index key."""
    size = sum(len(name.encode()) + attribute_size(v) for name, v in item.items())
    units = -(-size // 1024)
    if TABLE_GSI_PARTITION_KEY in item:
        units += -(-(size + GSI_ITEM_OVERHEAD) // 1024)
    return max(1, units)


class AwsCallCounter:
    """Counts the function's DynamoDB and SQS calls and the request units they cost, for
    the cost model: a write by its item's size (UpdateItem and DeleteItem, whose item is not
    in the call, as one unit), a read as one unit per item (half when eventually consistent:
    the audit items are under 4 KB), a Query by the size of what it read.

    Wraps botocore's one call path; Cloud Control calls are counted by the emulator instead.
    The audit writers and the workers call from many threads: the totals are added under a
    lock (unlocked, ``+=`` lost other threads' units: 8,044-8,059 of 8,094 in some runs).
    Sizing the items is the bench's work, not the function's: the CPU it takes (each
    thread's own clock around it, ~1% of a sweep's) is kept apart, in ``cpu_seconds``.
    """

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.write_units = 0.0
        self.read_units = 0.0
        self.cpu_seconds = 0.0
        # The bench's own calls (playing Lambda's SQS poller) are not the function's.
        self.paused = False
        self._lock = threading.Lock()

    def install(self) -> None:
        from botocore.client import BaseClient  # noqa: PLC0415 - only when counting

        original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, untyped
        counter = self

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            if service == "cloudcontrol" or counter.paused:
                return original(client, operation, params)
            began = time.thread_time()
            counter.count(service, operation, params)
            spent = time.thread_time() - began
            response = original(client, operation, params)
            if operation == "Query":  # billed by what it read, known from the answer
                began = time.thread_time()
                read = query_units(response, consistent=bool(params.get("ConsistentRead")))
                spent += time.thread_time() - began
                with counter._lock:
                    counter.read_units += read
            with counter._lock:
                counter.cpu_seconds += spent
            return response

        setattr(BaseClient, "_make_api_call", counted)  # noqa: B010

    def count(self, service: str, operation: str, params: dict[str, Any]) -> None:
        written, read = units(operation, params)
        key = f"{service}.{operation}"
        with self._lock:
            self.calls[key] = self.calls.get(key, 0) + 1
            self.write_units += written
            self.read_units += read


def units(operation: str, params: dict[str, Any]) -> tuple[float, float]:
    """The (write, read) request units of one call (``AwsCallCounter``)."""
    if operation == "PutItem":
        return write_units(params["Item"]), 0.0
    if operation in ("UpdateItem", "DeleteItem"):
        return 1.0, 0.0
    if operation == "BatchWriteItem":
        written = 0.0
        for requests in params["RequestItems"].values():
            for request in requests:
                item = request.get("PutRequest", {}).get("Item")
                written += write_units(item) if item else 1
        return written, 0.0
    if operation == "TransactWriteItems":  # twice the units of each item
        written = 0.0
        for action in params["TransactItems"]:
            item = action.get("Put", {}).get("Item")
            written += 2 * (write_units(item) if item else 1)
        return written, 0.0
    if operation == "GetItem":
        return 0.0, 1.0 if params.get("ConsistentRead") else 0.5
    if operation == "BatchGetItem":
        read = 0.0
        for request in params["RequestItems"].values():
            read += (1 if request.get("ConsistentRead") else 0.5) * len(request["Keys"])
        return 0.0, read
    return 0.0, 0.0  # Query: counted from its answer (query_units)


def query_units(response: dict[str, Any], consistent: bool) -> float:
    """A Query's read units: the items it read, a unit per started 4 KB (half when
    eventually consistent, as an index read always is), at least one read."""
    size = sum(
        len(name.encode()) + attribute_size(value)
        for item in response.get("Items", [])
        for name, value in item.items()
    )
    return max(1, -(-size // 4096)) * (1.0 if consistent else 0.5)


def sqs_records(messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Received messages as Lambda's SQS event hands them to the handler."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:cloudcontrol-reaper-work",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def drain_follow_ups(
    handler: Any, counter: AwsCallCounter, remaining_ms: int, limit_seconds: float
) -> dict[str, Any]:
    """Play the work queue's event source mapping for the follow-up messages the batches
    sent (delayed): receive up to 10, invoke the handler, delete what it did not report
    failed, until the queue holds nothing (visible, delayed or in flight) or the limit. The
    receives that brought messages and the deletes are counted apart (``poller_calls``):
    SQS requests the account pays, not the function's calls. The empty receives while the
    follow-ups wait out their delay are not: the mapping long-polls an idle queue anyway,
    which the idle month counts (bench.cost)."""
    import boto3  # noqa: PLC0415 - the driver's own client

    url = os.environ["WORK_QUEUE_URL"]
    sqs = boto3.client("sqs")
    seconds: list[float] = []
    records = failures = poller_calls = 0
    give_up = time.monotonic() + limit_seconds
    counter.paused = True
    try:
        while time.monotonic() < give_up:
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
                left = attributes["Attributes"]
                waiting = sum(
                    int(left.get(name, "0"))
                    for name in (
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesDelayed",
                        "ApproximateNumberOfMessagesNotVisible",
                    )
                )
                if waiting == 0:
                    break
                continue
            poller_calls += 1
            counter.paused = False
            start = time.perf_counter()
            response = handler(sqs_records(messages), LambdaContext(remaining_ms))
            seconds.append(time.perf_counter() - start)
            counter.paused = True
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            failures += len(failed)
            records += len(messages)
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                poller_calls += 1
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                        for n, m in enumerate(done)
                    ],
                )
    finally:
        counter.paused = False
    return {
        "follow_up_records": records,
        "follow_up_batches": len(seconds),
        "follow_up_seconds": sum(seconds),
        "follow_up_failures": failures,
        "poller_calls": poller_calls,
    }


def peak_rss_mb() -> float:
    """This process's own peak resident set (VmHWM). Not ru_maxrss: on Linux that keeps the
    parent's peak across fork and exec, so a large runner would show through."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def serve(handler: Any) -> int:
    """Invoke ``handler`` once per stdin line, as a warm Lambda container; returns the count.
    An invocation that raises is reported (Lambda would record it as a function error)."""
    count = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        context = LambdaContext(int(job["remaining_ms"]))
        event = job.get("event") or scheduled_event()
        start = time.perf_counter()
        answer: dict[str, Any] = {"request_id": context.aws_request_id}
        try:
            answer["response"] = handler(event, context)
        except Exception as exc:
            answer["error"] = f"{type(exc).__name__}: {exc}"[:500]
        answer["seconds"] = time.perf_counter() - start
        count += 1
        sys.stdout.flush()
        print(INVOKE_PREFIX + json.dumps(answer, default=str), flush=True)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["sweep", "sqs", "serve"])
    parser.add_argument("--remaining-ms", type=int, default=900_000)
    parser.add_argument("--tokens-file", help="sqs: one token a line")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument(
        "--follow-up-seconds",
        type=float,
        default=0.0,
        help="sqs: then play the work queue for the follow-ups the batches sent, this long at most",
    )
    args = parser.parse_args(argv)

    counter = AwsCallCounter()
    began = time.perf_counter()
    from reaper.handler import lambda_handler  # noqa: PLC0415 - timed: the cold import

    imported = time.perf_counter()
    counter.install()
    result: dict[str, Any] = {"mode": args.mode, "import_s": imported - began}
    if args.mode == "sweep":
        context = LambdaContext(args.remaining_ms)
        response = lambda_handler(scheduled_event(), context)
        result.update(
            invoke_s=time.perf_counter() - imported,
            response=response,
            request_id=context.aws_request_id,
        )
    elif args.mode == "serve":
        result.update(invocations=serve(lambda_handler))
    else:
        with open(args.tokens_file or "", encoding="utf-8") as handle:
            tokens = [line.strip() for line in handle if line.strip()]
        batches = [tokens[i : i + args.batch] for i in range(0, len(tokens), args.batch)]
        # The first batch pays for building the clients; measure the warm ones apart.
        failures = 0
        seconds: list[float] = []
        for batch in batches:
            start = time.perf_counter()
            response = lambda_handler(sqs_event(batch), LambdaContext(args.remaining_ms))
            seconds.append(time.perf_counter() - start)
            failures += len(response.get("batchItemFailures", []))
        result.update(
            records=len(tokens),
            batches=len(batches),
            batch_seconds=seconds,
            item_failures=failures,
            invoke_s=sum(seconds),
        )
        if args.follow_up_seconds > 0:
            result.update(
                drain_follow_ups(lambda_handler, counter, args.remaining_ms, args.follow_up_seconds)
            )
    result["peak_rss_mb"] = peak_rss_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # The function's CPU: the process's, less what counting and sizing its calls took.
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime - counter.cpu_seconds
    result["counter_cpu_seconds"] = counter.cpu_seconds
    result["cpu_system_seconds"] = usage.ru_stime  # thread wake-ups and sockets show here
    result["aws_calls"] = counter.calls
    result["write_units"] = counter.write_units
    result["read_units"] = counter.read_units
    sys.stdout.flush()
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
