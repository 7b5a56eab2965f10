"""Goal 4: dollars, from what the benchmark measured (time, memory, calls, request units).

Prices: us-east-1, public list prices as read on the date below, free tiers left out (an
account that already uses them pays these; SQS's 1 million requests a month never expire,
and would cover an idle member's polling in an account that uses SQS for nothing else).
Cloud Control API calls themselves cost nothing.

Idle months: the single-account stack's (alarms, the metric an idle sweep emits, the sweeps,
the work queue's event source mapping polling an empty queue) and an organization member's
(issue 13: no alarm and no custom metric in the member, they move to the central account;
the sweeps, their audit reads and log lines; by default no mapping either: the sweep drains
the queue, reaper.drain; with ``workQueue: continuous`` the mapping's polling is back).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PRICES_AS_OF = "2026-11-27"
PRICES: dict[str, float] = {
    "lambda_arm64_gb_second": 0.0000133334,  # first 7.5 billion GB-s a month
    "lambda_request": 0.20 / 1e6,
    "dynamodb_write_request_unit": 0.625 / 1e6,  # on-demand, since the November 2024 cut
    "dynamodb_read_request_unit": 0.125 / 1e6,
    "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB chunk
    "logs_ingested_gb": 0.50,  # CloudWatch Logs, standard class
    "custom_metric_month": 0.30,  # CloudWatch, first 10,000 metrics
    "alarm_month": 0.10,  # CloudWatch standard-resolution alarm
}
FUNCTION_MEMORY_GB = 512 / 1024  # infra/constants.py FUNCTION_MEMORY_MB
SWEEPS_PER_MONTH = 30 * 24 * 4  # every 15 minutes
# One JSON "decided" line, when a run's own lines are not given (the bench measures them).
LOG_BYTES_PER_DECISION = 500
SQS_BATCH = 10
# What the stack deploys whatever the traffic (infra/monitoring.py): 6 alarms; metrics that
# an idle sweep emits each run (SweepDuration), so they exist all month.
ALARMS = 6
IDLE_METRICS = 1
# An idle sweep's log lines (start, "sweep finished", the metrics line), when the idle run's
# own are not given (the bench measures them).
IDLE_LOG_BYTES = 1300
# The work queue's event source mapping on an empty queue. AWS Lambda Developer Guide,
# "Configuring scaling behavior for SQS event source mappings": Lambda long-polls a standard
# queue until it becomes active; at low traffic it scales back to five concurrent batches,
# and "can optimize to as few as 2 ... However, this optimization is not available when you
# enable the maximum concurrency setting" -- which the stack sets (infra/function.py). So:
# 5 pollers, each a ReceiveMessage per 20 s wait (the longest long poll), all month.
SQS_IDLE_POLLERS = 5
SQS_LONG_POLL_SECONDS = 20
SECONDS_PER_MONTH = 30 * 24 * 3600


@dataclass(frozen=True)
class CostModel:
    prices_as_of: str
    sqs_seconds_per_token: float
    sqs_write_units_per_token: float
    sqs_read_units_per_token: float
    per_million_tokens_sqs: dict[str, float]
    sweep_seconds_per_token: float
    sweep_write_units_per_token: float
    sweep_read_units_per_token: float
    per_million_tokens_sweep: dict[str, float]
    idle_sweep_seconds: float
    idle_month: dict[str, float]
    idle_month_org_member: dict[str, float]
    idle_month_org_member_continuous: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "prices": PRICES}


def _total(parts: dict[str, float]) -> dict[str, float]:
    return {**parts, "total": sum(parts.values())}


def per_million(
    seconds: float,
    write_units: float,
    read_units: float,
    sqs: bool,
    sqs_requests: float | None = None,
    invocations: float | None = None,
    log_bytes: float = LOG_BYTES_PER_DECISION,
) -> dict[str, float]:
    """Dollars for a million tokens, given what one token cost in each unit. Via SQS,
    ``sqs_requests`` and ``invocations`` per token as measured (follow-ups included); when
    not given: a send per token (the producer's), a receive and a delete per batch of 10,
    an invocation per batch. ``log_bytes``: what a token's "decided" lines take, as measured
    (via SQS, a cancel's follow-up may log its final state again)."""
    million = 1e6
    if sqs_requests is None:
        sqs_requests = 2 / SQS_BATCH + 1 if sqs else 0.0
    if invocations is None:
        invocations = 1 / SQS_BATCH if sqs else 0.0
    parts = {
        "lambda_duration": seconds
        * FUNCTION_MEMORY_GB
        * PRICES["lambda_arm64_gb_second"]
        * million,
        "lambda_requests": invocations * million * PRICES["lambda_request"],
        "dynamodb_writes": write_units * million * PRICES["dynamodb_write_request_unit"],
        "dynamodb_reads": read_units * million * PRICES["dynamodb_read_request_unit"],
        "sqs": sqs_requests * million * PRICES["sqs_request"],
        "logs": log_bytes * million / 1e9 * PRICES["logs_ingested_gb"],
    }
    return _total(parts)


def cost_model(
    sqs_seconds_per_token: float,
    sqs_write_units: float,
    sqs_read_units: float,
    sweep_seconds_per_token: float,
    sweep_write_units: float,
    sweep_read_units: float,
    idle_sweep_seconds: float,
    idle_read_units: float = 0.0,
    sqs_requests: float | None = None,
    sqs_invocations: float | None = None,
    sqs_log_bytes: float = LOG_BYTES_PER_DECISION,
    sweep_log_bytes: float = LOG_BYTES_PER_DECISION,
    idle_log_bytes: float = IDLE_LOG_BYTES,
) -> CostModel:
    sweeps = {
        "lambda_duration": SWEEPS_PER_MONTH
        * idle_sweep_seconds
        * FUNCTION_MEMORY_GB
        * PRICES["lambda_arm64_gb_second"],
        "lambda_requests": SWEEPS_PER_MONTH * PRICES["lambda_request"],
        "dynamodb_reads": SWEEPS_PER_MONTH * idle_read_units * PRICES["dynamodb_read_request_unit"],
        "logs": SWEEPS_PER_MONTH * idle_log_bytes / 1e9 * PRICES["logs_ingested_gb"],
    }
    polls = SQS_IDLE_POLLERS * SECONDS_PER_MONTH / SQS_LONG_POLL_SECONDS
    polling = {"sqs_idle_polling": polls * PRICES["sqs_request"]}
    idle = {
        **sweeps,
        **polling,
        "metrics": IDLE_METRICS * PRICES["custom_metric_month"],
        "alarms": ALARMS * PRICES["alarm_month"],
    }
    # A member's default (organization.workQueue "schedule", reaper.drain): no mapping; each
    # sweep's drain makes one ReceiveMessage on the empty queue.
    member = {**sweeps, "sqs_drain_receives": SWEEPS_PER_MONTH * PRICES["sqs_request"]}
    continuous = {**sweeps, **polling}
    return CostModel(
        prices_as_of=PRICES_AS_OF,
        sqs_seconds_per_token=sqs_seconds_per_token,
        sqs_write_units_per_token=sqs_write_units,
        sqs_read_units_per_token=sqs_read_units,
        per_million_tokens_sqs=per_million(
            sqs_seconds_per_token,
            sqs_write_units,
            sqs_read_units,
            sqs=True,
            sqs_requests=sqs_requests,
            invocations=sqs_invocations,
            log_bytes=sqs_log_bytes,
        ),
        sweep_seconds_per_token=sweep_seconds_per_token,
        sweep_write_units_per_token=sweep_write_units,
        sweep_read_units_per_token=sweep_read_units,
        per_million_tokens_sweep=per_million(
            sweep_seconds_per_token,
            sweep_write_units,
            sweep_read_units,
            sqs=False,
            log_bytes=sweep_log_bytes,
        ),
        idle_sweep_seconds=idle_sweep_seconds,
        idle_month=_total(idle),
        idle_month_org_member=_total(member),
        idle_month_org_member_continuous=_total(continuous),
    )
