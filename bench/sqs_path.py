"""Goal 5: records per second through the handler, SQS batches of 10 tokens, audit writes on.

Each record is one stale token (a bare token body), so a batch is ten decisions: read the
decision key (redelivery check), remember the first sighting, get the status, claim, cancel,
write the decision, send a delayed follow-up per cancel. The handler decides the ten records
at once and writes their decisions in one call; the follow-ups are then delivered as the work
queue's mapping would (bench.handler_child drain_follow_ups) until each cancel's final state is
recorded, and everything they cost (invocations, writes, SQS requests) counts in the cost per
token. Run at latency 0 and at the sweep's latency, and once more at that latency with
``cancel_follow_seconds`` 0 (no follow-up).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

from bench.stack import Services, create_audit_stack
from bench.sweep import run_child

BATCH = 10
DEFAULT_FOLLOW_SECONDS = 60  # ReaperConfig.cancel_follow_seconds
# How much longer than the follow the bench waits for the follow-ups' last hop.
FOLLOW_UP_SLACK_SECONDS = 30


@dataclass(frozen=True)
class SqsResult:
    latency_ms: float
    follow_seconds: int
    records: int
    batches: int
    seconds: float  # in the handler, all batches (the first builds the clients)
    records_per_second: float
    warm_records_per_second: float  # batches after the first
    item_failures: int
    cancel_calls: int
    total_calls: int
    calls_per_record: float
    audit_decisions: int
    peak_rss_mb: float
    aws_calls: dict[str, int]  # DynamoDB and SQS, counted in the function's process
    write_units: float
    read_units: float
    # The follow-ups the batches sent, delivered as the work queue's mapping would (their
    # invocations, writes and SQS requests are in the figures above and below).
    follow_up_records: int = 0
    decided_log_bytes: int = 0  # the "decided" lines at the function's log level (INFO)
    follow_up_batches: int = 0
    follow_up_seconds: float = 0.0
    # Every SQS request the path costs: the producer's send of each token, the mapping's
    # receive and delete of each batch (follow-ups too), the function's own sends.
    sqs_requests: int = 0
    invocations: int = 0

    @property
    def seconds_per_token(self) -> float:
        """Lambda time per token: a warm deciding batch's, plus the follow-ups'."""
        return 1 / self.warm_records_per_second + self.follow_up_seconds / max(1, self.records)


def run_sqs(
    services: Services,
    quota: float,
    latency_ms: float,
    batches: int,
    knobs: dict[str, Any] | None = None,
    follow_seconds: int = DEFAULT_FOLLOW_SECONDS,
) -> SqsResult:
    emulator = services.emulator
    emulator.account(latency_ms, quota, knobs)
    tokens = emulator.seed(
        batches * BATCH, type_name="AWS::S3::Bucket", status="IN_PROGRESS", age_seconds=8 * 3600
    )
    config = {
        "dry_run": False,
        "calls_per_second": quota,
        "max_concurrency": 1,
        "cancel_follow_seconds": follow_seconds,
    }
    audit = create_audit_stack(services, config)
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".tokens", encoding="utf-8") as handle:
            handle.write("\n".join(tokens))
            handle.flush()
            drain = follow_seconds + FOLLOW_UP_SLACK_SECONDS if follow_seconds > 0 else 0
            child, _, log = run_child(
                [
                    "sqs",
                    "--tokens-file",
                    handle.name,
                    "--batch",
                    str(BATCH),
                    "--follow-up-seconds",
                    str(drain),
                ],
                audit.env,
            )
        decisions = audit.decision_outcomes()
    finally:
        audit.delete()
    calls: dict[str, int] = emulator.state(requests=False)["calls"]
    seconds = float(child["invoke_s"])
    warm = [float(s) for s in child["batch_seconds"][1:]]
    records = len(tokens)
    total = sum(calls.values())
    aws = child.get("aws_calls", {})
    batches = int(child["batches"])
    function_sqs = sum(n for name, n in aws.items() if name.startswith("sqs."))
    # The producer's send per token, the mapping's receive + delete per deciding batch.
    sqs_requests = records + 2 * batches + function_sqs + int(child.get("poller_calls", 0))
    return SqsResult(
        latency_ms=latency_ms,
        follow_seconds=follow_seconds,
        records=records,
        batches=int(child["batches"]),
        seconds=seconds,
        records_per_second=records / seconds,
        warm_records_per_second=(len(warm) * BATCH / sum(warm)) if warm else records / seconds,
        item_failures=int(child["item_failures"]),
        cancel_calls=calls.get("CancelResourceRequest", 0),
        total_calls=total,
        calls_per_record=total / max(1, records),
        audit_decisions=len(decisions),
        peak_rss_mb=float(child["peak_rss_mb"]),
        aws_calls=child.get("aws_calls", {}),
        write_units=float(child.get("write_units", 0)),
        read_units=float(child.get("read_units", 0)),
        follow_up_records=int(child.get("follow_up_records", 0)),
        decided_log_bytes=log.decided_bytes,
        follow_up_batches=int(child.get("follow_up_batches", 0)),
        follow_up_seconds=float(child.get("follow_up_seconds", 0.0)),
        sqs_requests=sqs_requests,
        invocations=batches + int(child.get("follow_up_batches", 0)),
    )
