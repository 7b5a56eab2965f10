"""Goal 6: dollars, from what the benchmark measured (time, memory, calls, request units).

Prices: us-east-1, public list prices as read on the date below, free tiers left out (an
account that already uses them pays these). Cloud Control API calls themselves cost nothing.
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
LOG_BYTES_PER_DECISION = 700  # one JSON "decided" line, measured from the function's output
SQS_BATCH = 10
# What the stack deploys whatever the traffic (infra/monitoring.py): 6 alarms; metrics that
# an idle sweep emits each run (SweepDuration), so they exist all month.
ALARMS = 6
IDLE_METRICS = 1


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

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "prices": PRICES}


def _total(parts: dict[str, float]) -> dict[str, float]:
    return {**parts, "total": sum(parts.values())}


def per_million(
    seconds: float, write_units: float, read_units: float, sqs: bool
) -> dict[str, float]:
    """Dollars for a million tokens, given what one token cost in each unit."""
    million = 1e6
    parts = {
        "lambda_duration": seconds
        * FUNCTION_MEMORY_GB
        * PRICES["lambda_arm64_gb_second"]
        * million,
        "lambda_requests": (million / SQS_BATCH if sqs else 0) * PRICES["lambda_request"],
        "dynamodb_writes": write_units * million * PRICES["dynamodb_write_request_unit"],
        "dynamodb_reads": read_units * million * PRICES["dynamodb_read_request_unit"],
        # receive + delete, a call per batch each; sending is the producer's (one per token)
        "sqs": (2 / SQS_BATCH + 1) * million * PRICES["sqs_request"] if sqs else 0.0,
        "logs": LOG_BYTES_PER_DECISION * million / 1e9 * PRICES["logs_ingested_gb"],
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
) -> CostModel:
    idle = {
        "lambda_duration": SWEEPS_PER_MONTH
        * idle_sweep_seconds
        * FUNCTION_MEMORY_GB
        * PRICES["lambda_arm64_gb_second"],
        "lambda_requests": SWEEPS_PER_MONTH * PRICES["lambda_request"],
        "metrics": IDLE_METRICS * PRICES["custom_metric_month"],
        "alarms": ALARMS * PRICES["alarm_month"],
    }
    return CostModel(
        prices_as_of=PRICES_AS_OF,
        sqs_seconds_per_token=sqs_seconds_per_token,
        sqs_write_units_per_token=sqs_write_units,
        sqs_read_units_per_token=sqs_read_units,
        per_million_tokens_sqs=per_million(
            sqs_seconds_per_token, sqs_write_units, sqs_read_units, sqs=True
        ),
        sweep_seconds_per_token=sweep_seconds_per_token,
        sweep_write_units_per_token=sweep_write_units,
        sweep_read_units_per_token=sweep_read_units,
        per_million_tokens_sweep=per_million(
            sweep_seconds_per_token, sweep_write_units, sweep_read_units, sqs=False
        ),
        idle_sweep_seconds=idle_sweep_seconds,
        idle_month=_total(idle),
    )
