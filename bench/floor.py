"""Goal 1's floor: the CPU one CancelResourceRequest costs from Python, measured in the same run.

A bare boto3 ``cloudcontrol`` client (boto3's defaults, nothing tuned) cancels one seeded
IN_PROGRESS request after another against the bench's emulator. The loop runs in a fresh
process so nothing else shares its CPU clock; ``time.process_time`` (user + system, all
threads) is read around each round of ``--calls`` cancels, after one warm-up call that pays
for the client's lazy set-up. The median round is the floor.

    python -m bench.floor --calls 1000 --rounds 3      # endpoint from AWS_ENDPOINT_URL_CLOUDCONTROL
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

from bench.stack import Services, function_env

RESULT_PREFIX = "FLOOR-RESULT "
CHILD_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class FloorResult:
    calls: int  # per round
    rounds: int
    cpu_ms_per_call: float  # median round
    cpu_ms_per_call_rounds: list[float]
    latency_ms: float  # the emulator's added latency while the floor was measured
    failed_calls: int


def _loop(tokens: list[str], rounds: int) -> dict[str, Any]:
    import boto3  # noqa: PLC0415 - the child's only work

    client = boto3.client("cloudcontrol")
    client.cancel_resource_request(RequestToken=tokens[0])  # warm-up: lazy loading, connection
    per_round = (len(tokens) - 1) // rounds
    samples: list[float] = []
    failed = 0
    for r in range(rounds):
        batch = tokens[1 + r * per_round : 1 + (r + 1) * per_round]
        began = time.process_time()
        for token in batch:
            try:
                client.cancel_resource_request(RequestToken=token)
            except client.exceptions.ClientError:
                failed += 1
        samples.append((time.process_time() - began) / len(batch) * 1000)
    return {"calls": per_round, "samples": samples, "failed": failed}


def run_floor(
    services: Services, calls: int = 1000, rounds: int = 3, latency_ms: float = 0.0
) -> FloorResult:
    """Seed ``calls * rounds + 1`` requests on a fresh account (no quota, ``latency_ms``) and
    cancel each once from a fresh process."""
    emulator = services.emulator
    emulator.account(latency_ms, 1_000_000.0, {"cancel_complete_after_seconds": 5.0})
    tokens = emulator.seed(
        calls * rounds + 1, type_name="AWS::S3::Bucket", status="IN_PROGRESS", age_seconds=8 * 3600
    )
    env = function_env(services, "unused", "http://127.0.0.1:9/w", "http://127.0.0.1:9/d", {})
    with tempfile.NamedTemporaryFile("w", suffix=".tokens", encoding="utf-8") as handle:
        handle.write("\n".join(tokens))
        handle.flush()
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.floor",
                "--tokens-file",
                handle.name,
                "--rounds",
                str(rounds),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_SECONDS,
            check=False,
        )
    lines = [x for x in completed.stdout.splitlines() if x.startswith(RESULT_PREFIX)]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(
            f"bench.floor failed ({completed.returncode}): {completed.stderr[-3000:]}"
        )
    child = json.loads(lines[-1][len(RESULT_PREFIX) :])
    samples = [float(s) for s in child["samples"]]
    return FloorResult(
        calls=int(child["calls"]),
        rounds=rounds,
        cpu_ms_per_call=statistics.median(samples),
        cpu_ms_per_call_rounds=[round(s, 3) for s in samples],
        latency_ms=latency_ms,
        failed_calls=int(child["failed"]),
    )


def as_dict(result: FloorResult) -> dict[str, Any]:
    return asdict(result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens-file", required=True, help="one seeded token a line")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with open(args.tokens_file, encoding="utf-8") as handle:
        tokens = [line.strip() for line in handle if line.strip()]
    if len(tokens) < args.rounds + 1:
        parser.error("--tokens-file: needs at least rounds + 1 tokens")
    print(RESULT_PREFIX + json.dumps(_loop(tokens, args.rounds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
