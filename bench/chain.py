"""Goal 5: a sweep larger than one invocation, finished by a chain of invocations.

The driver plays Lambda locally, in real time (the emulator's clock is the wall clock; nothing
is sped up): the function's timeout is ``timeout_seconds`` (60), its reserved concurrency
``max_concurrency`` (the deployable minimum, 2: each invocation gets quota / 2 calls/s), and
the work queue's event source mapping polls with batches of 10 and at most
``max(2, max_concurrency - 1)`` concurrent invocations (infra/function.py). Every invocation,
the scheduled sweep's and the SQS batches', takes one of the reserved slots and runs in a warm
container (``bench.handler_child serve``, one process per container). Records the handler
reports failed are not deleted: they come back after the queue's visibility timeout (6 x the
function timeout, as the stack sets it), as with a real mapping. The batching window is not
played (the queue is full when the pollers start).

The chain ends when the sweep has returned, no invocation runs and the work queue holds no
message, visible, in flight or delayed. Its wall time is compared with the quota's bound:
stale requests / quota (no client can cancel them faster) and the calls actually made / quota.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from reaper import contracts
from reaper.drain import sqs_record

from bench.handler_child import INVOKE_PREFIX, RESULT_PREFIX
from bench.scenario import check_account, seed_account
from bench.stack import AuditStack, Services, create_audit_stack

VISIBILITY_FACTOR = 6  # infra/constants.py VISIBILITY_TIMEOUT_FACTOR
# Give up after 3 x the bound + (2 + VISIBILITY_FACTOR) function timeouts: room for a failed
# record to come back once after its visibility timeout.
CHAIN_BOUND_FACTOR = 3.0
SQS_BATCH = 10
POLL_WAIT_SECONDS = 1


@dataclass
class ChainResult:
    quota: float
    latency_ms: float
    stale: int
    timeout_seconds: int
    max_concurrency: int
    wall_seconds: float  # first invocation's start to the last one's end
    last_cancel_seconds: float  # first invocation's start to the last stale request's cancel
    bound_seconds: float  # stale / quota
    ratio: float
    calls: dict[str, int]
    calls_bound_seconds: float  # all Cloud Control calls / quota
    sweep_response: dict[str, Any]
    invocations: int  # the sweep's included
    invocation_errors: list[str]
    overruns: int  # invocations past the function timeout (Lambda would have killed them)
    records_failed: int  # SQS records reported failed (they came back)
    cancelled: int
    stale_not_cancelled: int
    wrongly_cancelled: int
    cancelled_twice: int  # a second CancelResourceRequest on a token already cancelled
    tokens_with_cancel_decision: int
    tokens_with_two_cancel_decisions: int
    outcomes: dict[str, int]
    work_queue_left: int
    dead_letters: int
    finished: bool  # False: the chain hit its time limit
    container_cpu_seconds: list[float] = field(default_factory=list)
    container_peak_rss_mb: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.finished
            and self.overruns == 0
            and self.stale_not_cancelled == 0
            and self.wrongly_cancelled == 0
            and self.cancelled_twice == 0
            and self.tokens_with_cancel_decision == self.stale
            and self.tokens_with_two_cancel_decisions == 0
            and self.dead_letters == 0
            and self.work_queue_left == 0
        )


class Container:
    """One warm Lambda container: a ``handler_child serve`` process."""

    def __init__(self, env: dict[str, str]) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.handler_child", "serve"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=os.getcwd(),
        )
        self.log_lines = 0

    def invoke(self, event: dict[str, Any] | None, remaining_ms: int) -> dict[str, Any]:
        assert self._process.stdin and self._process.stdout
        self._process.stdin.write(json.dumps({"event": event, "remaining_ms": remaining_ms}) + "\n")
        self._process.stdin.flush()
        return _read_until(self._process.stdout, INVOKE_PREFIX, self)

    def close(self) -> dict[str, Any]:
        assert self._process.stdin and self._process.stdout
        self._process.stdin.close()
        try:
            summary = _read_until(self._process.stdout, RESULT_PREFIX, self)
        finally:
            self._process.wait(timeout=30)
        return summary


def _read_until(stream: IO[str], prefix: str, container: Container) -> dict[str, Any]:
    for line in stream:
        if line.startswith(prefix):
            answer: dict[str, Any] = json.loads(line[len(prefix) :])
            return answer
        container.log_lines += 1
    raise RuntimeError("a bench container ended without answering")


class Lambda:
    """Reserved concurrency as a semaphore; warm containers reused, made when none is free."""

    def __init__(self, env: dict[str, str], reserved: int, timeout_seconds: int) -> None:
        self._env = env
        self._slots = threading.BoundedSemaphore(reserved)
        self._free: list[Container] = []
        self._all: list[Container] = []
        self._lock = threading.Lock()
        self._timeout_ms = timeout_seconds * 1000
        self.running = 0
        self.invocations = 0
        # Invocations that ran past the timeout: Lambda would have ended them there.
        self.overruns = 0
        self.errors: list[str] = []
        self.first_start: float | None = None
        self.last_end = 0.0

    def invoke(self, event: dict[str, Any] | None) -> dict[str, Any]:
        with self._slots:
            with self._lock:
                container = self._free.pop() if self._free else None
                self.running += 1
                self.invocations += 1
                began = time.perf_counter()
                self.first_start = self.first_start or began
            if container is None:
                container = Container(self._env)
                with self._lock:
                    self._all.append(container)
            try:
                answer = container.invoke(event, self._timeout_ms)
            finally:
                with self._lock:
                    self._free.append(container)
                    self.running -= 1
                    self.last_end = max(self.last_end, time.perf_counter())
        with self._lock:
            if "error" in answer:
                self.errors.append(str(answer["error"]))
            if float(answer.get("seconds", 0)) > self._timeout_ms / 1000:
                self.overruns += 1
        return answer

    def close(self) -> list[dict[str, Any]]:
        return [c.close() for c in self._all]


def _poll(
    audit: AuditStack, queue_arn: str, function: Lambda, stop: threading.Event, failed: list[int]
) -> None:
    """One poller of the event source mapping: receive up to 10, invoke, delete the successes."""
    while not stop.is_set():
        received = audit.sqs.receive_message(
            QueueUrl=audit.work_queue_url,
            MaxNumberOfMessages=SQS_BATCH,
            WaitTimeSeconds=POLL_WAIT_SECONDS,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            continue
        answer = function.invoke({"Records": [sqs_record(m, queue_arn) for m in received]})
        response = answer.get("response") or {}
        if "error" in answer:  # a function error: the whole batch comes back
            failed.append(len(received))
            continue
        bad = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        failed.append(len(bad))
        done = [m for m in received if m["MessageId"] not in bad]
        for i in range(0, len(done), SQS_BATCH):
            audit.sqs.delete_message_batch(
                QueueUrl=audit.work_queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                    for n, m in enumerate(done[i : i + SQS_BATCH])
                ],
            )


def _queued(sqs: Any, url: str) -> int:
    """Messages in a queue: visible, in flight (received, not deleted) and delayed."""
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(n, 0)) for n in names)


def decisions_by_token(audit: AuditStack) -> dict[str, list[str]]:
    """Every decision item's outcome, by token (a Scan: the chain's table is small)."""
    found: dict[str, list[str]] = {}
    params: dict[str, Any] = {
        "TableName": audit.table_name,
        "FilterExpression": "begins_with(#sk, :d)",
        "ExpressionAttributeValues": {":d": {"S": "DECISION#"}},
        "ProjectionExpression": "#t, outcome",
        "ExpressionAttributeNames": {"#t": "token", "#sk": contracts.TABLE_SORT_KEY},
    }
    while True:
        page = audit.dynamodb.scan(**params)
        for item in page["Items"]:
            found.setdefault(item["token"]["S"], []).append(item["outcome"]["S"])
        if "LastEvaluatedKey" not in page:
            return found
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def run_chain(
    services: Services,
    quota: float,
    latency_ms: float,
    stale: int,
    knobs: dict[str, Any] | None = None,
    timeout_seconds: int = 60,
    max_concurrency: int = 2,
) -> ChainResult:
    emulator = services.emulator
    emulator.account(latency_ms, quota, knobs)
    seeded = seed_account(emulator, stale=stale, healthy=stale // 5, finished=stale // 5)
    config = {
        "dry_run": False,
        "max_cancellations_per_run": max(10_000, stale),
        "calls_per_second": quota,
        "max_concurrency": max_concurrency,
    }
    audit = create_audit_stack(services, config)
    audit.sqs.set_queue_attributes(
        QueueUrl=audit.work_queue_url,
        Attributes={"VisibilityTimeout": str(VISIBILITY_FACTOR * timeout_seconds)},
    )
    queue_arn = audit.sqs.get_queue_attributes(
        QueueUrl=audit.work_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    bound = stale / quota
    limit = CHAIN_BOUND_FACTOR * bound + (2 + VISIBILITY_FACTOR) * timeout_seconds
    function = Lambda(audit.env, max_concurrency, timeout_seconds)
    stop = threading.Event()
    failed: list[int] = []
    sweep_answer: dict[str, Any] = {}
    pollers = [
        threading.Thread(target=_poll, args=(audit, queue_arn, function, stop, failed))
        for _ in range(max(2, max_concurrency - 1))
    ]
    try:
        sweep = threading.Thread(target=lambda: sweep_answer.update(function.invoke(None)))
        began = time.perf_counter()
        began_wall = time.time()
        sweep.start()
        for poller in pollers:
            poller.start()
        finished = False
        while time.perf_counter() - began < limit:
            time.sleep(1.0)
            if (
                not sweep.is_alive()
                and function.running == 0
                and not _queued(audit.sqs, audit.work_queue_url)
            ):
                finished = True
                break
        stop.set()
        for poller in pollers:
            poller.join(timeout=timeout_seconds + 30)
        sweep.join(timeout=timeout_seconds + 30)
        summaries = function.close()
        state = emulator.state(requests=True)
        check = check_account(state, seeded)
        decided = decisions_by_token(audit)
        left = _queued(audit.sqs, audit.work_queue_url)
        dead = _queued(audit.sqs, audit.dead_letter_queue_url)
    finally:
        stop.set()
        audit.delete()
    wall = function.last_end - (function.first_start or began)
    cancel_times = [
        datetime.fromisoformat(r["cancelled_at"]).timestamp()
        for r in state["requests"]
        if r["token"] in seeded.stale and r.get("cancelled_at")
    ]
    cancel_decisions = {
        t: sum(o in ("cancelled", "cancel_complete") for o in outcomes)
        for t, outcomes in decided.items()
        if t in seeded.stale
    }
    noops = Counter(str(t) for t in state.get("cancel_noops", []))
    calls: dict[str, int] = state["calls"]
    return ChainResult(
        quota=quota,
        latency_ms=latency_ms,
        stale=stale,
        timeout_seconds=timeout_seconds,
        max_concurrency=max_concurrency,
        wall_seconds=wall,
        last_cancel_seconds=max(cancel_times, default=began_wall) - began_wall,
        bound_seconds=bound,
        ratio=wall / bound,
        calls=calls,
        calls_bound_seconds=sum(calls.values()) / quota,
        sweep_response=sweep_answer.get("response") or {"error": sweep_answer.get("error")},
        invocations=function.invocations,
        invocation_errors=function.errors[:5],
        overruns=function.overruns,
        records_failed=sum(failed),
        cancelled=check.stale_cancelled,
        stale_not_cancelled=check.stale_not_cancelled,
        wrongly_cancelled=check.wrongly_cancelled,
        cancelled_twice=sum(1 for t in noops if t in seeded.stale),
        tokens_with_cancel_decision=sum(1 for n in cancel_decisions.values() if n >= 1),
        tokens_with_two_cancel_decisions=sum(1 for n in cancel_decisions.values() if n >= 2),
        outcomes=dict(Counter(o for t, os_ in decided.items() for o in os_ if t in seeded.stale)),
        work_queue_left=left,
        dead_letters=dead,
        finished=finished,
        container_cpu_seconds=[round(float(s.get("cpu_seconds", 0)), 2) for s in summaries],
        container_peak_rss_mb=[round(float(s.get("peak_rss_mb", 0)), 1) for s in summaries],
    )
