"""Goal 3: the cold import of the handler module, next to a bare ``import boto3``.

Each sample is a fresh interpreter that times its own import with perf_counter (the process
wall is kept too). Handler and boto3 samples alternate, so both see the same machine state.
The function's environment is set as the CDK stack sets it; no network is touched.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

from bench.stack import function_env

CHILD_TIMEOUT_SECONDS = 60
TIMED_IMPORT = "import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
HANDLER = "import reaper.handler"
BOTO3 = "import boto3"
# What the first invocation adds in Lambda's INIT or first call: settings and the clients.
FIRST_CALL = "import reaper.handler; reaper.handler.container()"


@dataclass(frozen=True)
class Samples:
    import_seconds: list[float]
    process_seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.import_seconds)

    @property
    def process_median(self) -> float:
        return statistics.median(self.process_seconds)


@dataclass
class ColdStartResult:
    runs: int
    handler: Samples
    boto3: Samples
    handler_and_clients: Samples
    top_imports: list[tuple[str, float, float]] = field(default_factory=list)  # name, cum, self

    @property
    def ratio(self) -> float:
        return self.handler.median / self.boto3.median


def _env() -> dict[str, str]:
    config = {"dry_run": False, "calls_per_second": 25, "max_concurrency": 1}
    return function_env(
        None,
        "bench-audit",
        "http://127.0.0.1:9/work",
        "http://127.0.0.1:9/dlq",
        config,
    )


def _sample(statement: str, env: dict[str, str]) -> tuple[float, float]:
    began = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", TIMED_IMPORT.format(statement=statement)],
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
        check=True,
    )
    wall = time.perf_counter() - began
    return float(completed.stdout.strip().splitlines()[-1]), wall


def import_profile(env: dict[str, str], top: int = 15) -> list[tuple[str, float, float]]:
    """The ``top`` largest cumulative entries of ``python -X importtime -c HANDLER``."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", HANDLER],
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
        check=True,
    )
    rows: list[tuple[str, float, float]] = []
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        rows.append((name.rstrip(), int(cumulative_us) / 1e6, int(self_us) / 1e6))
    rows.sort(key=lambda row: row[1], reverse=True)
    return rows[:top]


def run_cold_start(runs: int) -> ColdStartResult:
    env = _env()
    samples: dict[str, list[tuple[float, float]]] = {HANDLER: [], BOTO3: [], FIRST_CALL: []}
    for _ in range(runs):
        for statement, taken in samples.items():
            taken.append(_sample(statement, env))

    def of(statement: str) -> Samples:
        pairs = samples[statement]
        return Samples([p[0] for p in pairs], [p[1] for p in pairs])

    return ColdStartResult(
        runs=runs,
        handler=of(HANDLER),
        boto3=of(BOTO3),
        handler_and_clients=of(FIRST_CALL),
        top_imports=import_profile(env),
    )


if __name__ == "__main__":
    result = run_cold_start(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
    print(
        json.dumps(
            {
                "handler": result.handler.median,
                "boto3": result.boto3.median,
                "ratio": result.ratio,
                "top": result.top_imports,
            },
            indent=1,
        )
    )
