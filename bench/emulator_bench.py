"""How many requests a second the Cloud Control emulator serves here, with no added latency.

So we know it is never the bottleneck of what it measures. The emulator runs as its own process
(the standalone command, as benchmarks run it) unless --in-process; clients are keep-alive HTTP
connections, one per thread, sending what boto3 sends. Bounded: each cell runs --seconds.

    python bench/emulator_bench.py [--threads 1 4 16] [--seconds 1.5] [--in-process]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from ccapi_emulator import EmulatorConfig, EmulatorServer

SEEDED = 1000


@dataclass(frozen=True)
class Result:
    operation: str
    threads: int
    requests: int
    errors: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


@contextmanager
def running_emulator(in_process: bool) -> Iterator[str]:
    """An emulator with latency 0 and no rate limit; yields its endpoint URL."""
    if in_process:
        config = EmulatorConfig(latency_ms=0, rate_per_second=None)
        with EmulatorServer(port=0, config=config) as server:
            yield server.endpoint_url
        return
    command = [sys.executable, "-m", "ccapi_emulator", "--port", "0", "--latency-ms", "0",
               "--rate", "0"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if "listening on" not in line:
            raise RuntimeError(f"the emulator did not start: {line!r}")
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def seed(endpoint_url: str, count: int) -> list[str]:
    request = urllib.request.Request(
        endpoint_url + "/_emulator/seed",
        data=json.dumps({"count": count, "status": "IN_PROGRESS", "age_seconds": 7200}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        tokens: list[str] = json.loads(response.read())["tokens"]
    return tokens


def _bodies(operation: str, tokens: list[str]) -> list[bytes]:
    if operation == "GetResourceRequestStatus":
        return [json.dumps({"RequestToken": t}).encode() for t in tokens]
    status_filter = {"OperationStatuses": ["IN_PROGRESS"]}
    return [json.dumps({"MaxResults": 100, "ResourceRequestStatusFilter": status_filter}).encode()]


def measure(
    endpoint_url: str, operation: str, threads: int, seconds: float, tokens: list[str]
) -> Result:
    """Call ``operation`` from ``threads`` keep-alive connections for ``seconds``."""
    url = urlsplit(endpoint_url)
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"CloudApiService.{operation}",
    }
    bodies = _bodies(operation, tokens)
    counts: list[tuple[int, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def client() -> None:
        connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
        done = failed = 0
        start.wait()
        while time.perf_counter() < deadline[0]:
            connection.request("POST", "/", random.choice(bodies), headers)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                done += 1
            else:
                failed += 1
        connection.close()
        with lock:
            counts.append((done, failed))

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    return Result(operation, threads, sum(c[0] for c in counts), sum(c[1] for c in counts), elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=1.5, help="per measurement")
    parser.add_argument("--in-process", action="store_true", help="share the process (and GIL)")
    args = parser.parse_args(argv)
    where = "in this process" if args.in_process else "in its own process"
    print(f"ccapi-emulator, latency 0 ms, no rate limit, {SEEDED} requests seeded, {where}")
    with running_emulator(args.in_process) as endpoint_url:
        started = time.perf_counter()
        tokens = seed(endpoint_url, SEEDED)
        print(f"seeding {SEEDED} requests over HTTP: {time.perf_counter() - started:.3f} s")
        print(f"{'operation':<26} {'threads':>7} {'requests':>9} {'errors':>7} {'req/s':>8}")
        for operation in ("GetResourceRequestStatus", "ListResourceRequests"):
            for threads in args.threads:
                r = measure(endpoint_url, operation, threads, args.seconds, tokens)
                print(
                    f"{r.operation:<26} {r.threads:>7} {r.requests:>9} {r.errors:>7} "
                    f"{r.per_second:>8.0f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
