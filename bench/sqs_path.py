"""Goal 5: records per second through the handler, SQS batches of 10 tokens, audit writes on.

Each record is one stale token (a bare token body), so a batch is ten decisions: read the
decision key (redelivery check), remember the first sighting, get the status, claim, cancel,
follow the cancel, write the decision. The handler decides the ten records, then follows
their cancels in one wait and writes their decisions in one call. Run at latency 0 and at the
sweep's latency, and once more at that latency with ``cancel_follow_seconds`` 0 (no waiting
for CANCEL_COMPLETE: what deciding alone costs).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

from bench.stack import Services, create_audit_stack
from bench.sweep import run_child

BATCH = 10
DEFAULT_FOLLOW_SECONDS = 60  # ReaperConfig.cancel_follow_seconds


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
            child, _, _ = run_child(
                ["sqs", "--tokens-file", handle.name, "--batch", str(BATCH)], audit.env
            )
        decisions = audit.decision_outcomes()
    finally:
        audit.delete()
    calls: dict[str, int] = emulator.state(requests=False)["calls"]
    seconds = float(child["invoke_s"])
    warm = [float(s) for s in child["batch_seconds"][1:]]
    records = len(tokens)
    total = sum(calls.values())
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
    )
