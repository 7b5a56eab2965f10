"""The reaper's benchmark: one command, numbers printed, results also as JSON.

    make bench                       # = .venv/bin/python -m bench.run_all
    python -m bench.run_all --quota 25            # at the real account limit (slow: ~7 min)
    python -m bench.run_all --quick               # a small run (< 1 min), to prove it works

Measures (docs/performance.md explains each number; bench/goals.py holds issue 14's goals):
0. the floor: a bare boto3 CancelResourceRequest loop's CPU per call, same emulator;
1. one scheduled sweep of ``--stale`` stale requests (plus as many healthy and finished) at
   ``--quota`` calls/s and ``--latency-ms``, and one of ``--small-stale``: CPU per cancelled
   request against the floor at both sizes, calls per cancel, write units, peak memory;
   ``--one-stale`` at ``--one-quota`` (the real limit) in one invocation: wall against the
   quota's bound; 2. the obvious serial boto3 script on ``--serial-stale``;
3. the cold import of the handler against ``import boto3``; 5. SQS batches through the
handler at latency 0 and ``--latency-ms``; the chain: ``--chain-stale`` at ``--chain-quota``
with a ``--chain-timeout`` function, sweep then work-queue invocations (bench/chain.py);
6. dollars. The emulator and moto run in their own processes, the reaper in fresh ones.
Everything stays on 127.0.0.1 and is bounded in time and count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.chain import run_chain
from bench.cold_start import run_cold_start
from bench.cost import cost_model
from bench.floor import FloorResult, run_floor
from bench.printing import (
    print_chain,
    print_cold,
    print_cost,
    print_cpu,
    print_floor,
    print_goals,
    print_idle,
    print_serial,
    print_sqs,
    print_sweep,
)
from bench.sqs_path import DEFAULT_FOLLOW_SECONDS, SqsResult, run_sqs
from bench.stack import services
from bench.sweep import IdleSweep, SweepResult, run_idle_sweep, run_serial, run_sweep

RESULTS_DIR = Path(__file__).parent / "results"
STEPS = ("floor", "sweep", "small", "one", "chain", "serial", "cold", "sqs")


def code_state() -> dict[str, str]:
    """Which reaper was measured: the commit, and whether lambda/ had uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--", "lambda")
    return {"commit": git("rev-parse", "--short", "HEAD"), "lambda_dirty": str(bool(dirty))}


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit unwinds the with-blocks, so the emulator and moto processes are stopped.
    sys.exit(128 + signum)


def _profiler(args: argparse.Namespace, stamp: str) -> list[str] | None:
    """py-spy around the large sweep when asked (raw stacks; bench.profile_summary reads them)."""
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if not args.profile or not py_spy:
        return None
    raw = args.results_dir / f"sweep-{stamp}.pyspy.txt"
    idle = ["--idle"] if args.profile == "wall" else ["--gil"]
    flags = ["record", "--threads", *idle, "--rate", "100", "--format", "raw", "-o"]
    return [py_spy, *flags, str(raw), "--"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quota", type=float, default=200.0, help="account calls/s (25 real)")
    parser.add_argument("--stale", type=int, default=10_000)
    parser.add_argument("--small-stale", type=int, default=2_000, help="goal 1's small size")
    parser.add_argument("--one-stale", type=int, default=10_000, help="goal 5, one invocation")
    parser.add_argument("--one-quota", type=float, default=25.0)
    parser.add_argument("--chain-stale", type=int, default=5_000)
    parser.add_argument("--chain-quota", type=float, default=25.0)
    parser.add_argument("--chain-timeout", type=int, default=60, help="function timeout, s")
    parser.add_argument("--floor-calls", type=int, default=1_000, help="per round, 3 rounds")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--serial-stale", type=int, default=500)
    parser.add_argument("--cold-runs", type=int, default=15)
    parser.add_argument("--sqs-batches", type=int, default=2)
    parser.add_argument(
        "--cancel-complete-after",
        type=float,
        default=5.0,
        help="emulator: seconds in CANCEL_IN_PROGRESS",
    )
    parser.add_argument("--only", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument(
        "--profile",
        choices=("cpu", "wall"),
        help="record the sweep with py-spy (raw stacks in --results-dir): cpu samples the thread "
        "holding the GIL, wall every thread, waiting ones too",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes (300 stale, 10 serial, 3 cold runs, 1 SQS batch, a 30-stale chain "
        "with a 10 s timeout, every quota --quota): proves the scripts work, measures nothing",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.quick:
        args.stale, args.serial_stale, args.cold_runs, args.sqs_batches = 300, 10, 3, 1
        args.small_stale, args.one_stale, args.floor_calls = 50, 50, 100
        args.chain_stale, args.chain_timeout = 30, 10
        args.one_quota = args.chain_quota = args.quota
        args.cancel_complete_after = 0.0

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    print(
        f"Cloud Control Request Reaper benchmark {stamp}: quota {args.quota:g} calls/s, "
        f"latency {args.latency_ms:g} ms, "
        f"cancel completes after {args.cancel_complete_after:g} s; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.machine()}"
    )
    load = os.getloadavg()
    print(f"load average at start {load[0]:.2f} (other processes on this machine skew timings)")
    state = code_state()
    print(f"reaper at {state['commit']}, uncommitted changes in lambda/: {state['lambda_dirty']}")
    report: dict[str, Any] = {
        "stamp": stamp,
        "code": state,
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    sweep: SweepResult | None = None
    small: SweepResult | None = None
    idle: IdleSweep | None = None
    floor: FloorResult | None = None
    sqs_results: list[SqsResult] = []
    began = time.perf_counter()
    with services(args.latency_ms, args.quota) as stack:
        knobs = {"cancel_complete_after_seconds": args.cancel_complete_after}
        if "floor" in args.only:
            floor = run_floor(stack, args.floor_calls)
            report["floor"] = asdict(floor)
            print_floor(floor)
            # Context, not the goal's floor: the same loop at the sweep's latency. A call
            # made after a wait costs this machine about twice the CPU of one made back to
            # back (cold caches), and every real call waits (docs/performance.md, goal 1).
            waited = run_floor(stack, max(30, args.floor_calls // 5), latency_ms=args.latency_ms)
            report["floor_at_latency"] = asdict(waited)
            print_floor(waited)
        floor_ms = floor.cpu_ms_per_call if floor else None
        if "small" in args.only:
            small = run_sweep(stack, args.quota, args.latency_ms, args.small_stale, knobs)
            report["sweep_small"] = asdict(small)
            print_sweep(small, floor_ms, "1a. Sweep, small")
        if "sweep" in args.only:
            sweep = run_sweep(
                stack, args.quota, args.latency_ms, args.stale, knobs, _profiler(args, stamp)
            )
            report["sweep"] = asdict(sweep)
            print_sweep(sweep, floor_ms)
            idle = run_idle_sweep(stack, args.quota, args.latency_ms, knobs)
            report["idle_sweep"] = asdict(idle)
            print_idle(idle)
        if small is not None and floor_ms:
            print_cpu(small, sweep, floor_ms)
        if "one" in args.only:
            one = run_sweep(stack, args.one_quota, args.latency_ms, args.one_stale, knobs)
            report["one_invocation"] = asdict(one)
            print_sweep(one, floor_ms, "5a. One invocation at the real limit")
        if "chain" in args.only:
            chain = run_chain(
                stack, args.chain_quota, args.latency_ms, args.chain_stale, knobs,
                timeout_seconds=args.chain_timeout,
            )  # fmt: skip
            report["chain"] = {**asdict(chain), "ok": chain.ok}
            print_chain(chain)
        if "serial" in args.only:
            serial = run_serial(stack, args.quota, args.latency_ms, args.serial_stale, knobs)
            report["serial"] = serial.as_dict()
            print_serial(serial, sweep)
        if "sqs" in args.only:
            for latency in dict.fromkeys((0.0, args.latency_ms)):
                sqs_results.append(run_sqs(stack, args.quota, latency, args.sqs_batches, knobs))
            no_follow = run_sqs(stack, args.quota, args.latency_ms, args.sqs_batches, knobs, 0)
            sqs_results.append(no_follow)
            report["sqs"] = [asdict(r) for r in sqs_results]
            print_sqs(sqs_results)
    if "cold" in args.only:
        cold = run_cold_start(args.cold_runs)
        report["cold_start"] = {
            **asdict(cold),
            "handler_median": cold.handler.median,
            "boto3_median": cold.boto3.median,
            "ratio": cold.ratio,
        }
        print_cold(cold)
    if sweep is not None and idle is not None and sqs_results:
        # The cost is that of the default: cancels followed to CANCEL_COMPLETE.
        sqs = [r for r in sqs_results if r.follow_seconds == DEFAULT_FOLLOW_SECONDS][-1]
        model = cost_model(
            sqs_seconds_per_token=sqs.seconds_per_token,
            sqs_write_units=sqs.write_units / sqs.records,
            sqs_read_units=sqs.read_units / sqs.records,
            sqs_requests=sqs.sqs_requests / sqs.records,
            sqs_invocations=sqs.invocations / sqs.records,
            sqs_log_bytes=sqs.decided_log_bytes / sqs.records,
            sweep_log_bytes=sweep.decided_log_bytes / max(1, sweep.cancelled),
            idle_log_bytes=idle.log_bytes,
            sweep_seconds_per_token=sweep.wall_seconds / max(1, sweep.cancelled),
            sweep_write_units=sweep.write_units / max(1, sweep.cancelled),
            sweep_read_units=sweep.read_units / max(1, sweep.cancelled),
            idle_sweep_seconds=idle.process_seconds,
            idle_read_units=idle.read_units,
        )
        report["cost"] = model.as_dict()
        print_cost(model)
    print_goals(report)
    if args.quick:
        print("   (--quick: sizes too small to judge any goal; it proves the scripts run)")
    report["seconds"] = time.perf_counter() - began
    report["load_average"] = {"start": load[0], "end": os.getloadavg()[0]}
    out = args.results_dir / f"bench-{stamp}.json"
    text = json.dumps(report, indent=1, default=str)
    out.write_text(text, encoding="utf-8")
    (args.results_dir / "latest.json").write_text(text, encoding="utf-8")
    print(f"results: {out} ({report['seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
