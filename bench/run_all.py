"""The reaper's benchmark: one command, numbers printed, results also as JSON.

    make bench                       # = .venv/bin/python -m bench.run_all
    python -m bench.run_all --quota 25            # at the real account limit (slow: ~7 min)
    python -m bench.run_all --quick               # a small run (< 1 min), to prove it works

Measures (docs/performance.md explains each number and the goals):
1. one scheduled sweep of ``--stale`` stale requests (plus as many healthy and finished) at
   ``--quota`` calls/s and ``--latency-ms``: wall time against calls/quota, calls per cancel;
4. its peak resident memory; 2. the obvious serial boto3 script on ``--serial-stale``;
3. the cold import of the handler against ``import boto3``; 5. SQS batches through the
handler at latency 0 and ``--latency-ms``. The emulator and moto run in their own processes,
the reaper in a fresh one. Everything stays on 127.0.0.1 and is bounded in time and count.
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

from bench.cold_start import ColdStartResult, run_cold_start
from bench.cost import PRICES, PRICES_AS_OF, SWEEPS_PER_MONTH, CostModel, cost_model
from bench.sqs_path import DEFAULT_FOLLOW_SECONDS, SqsResult, run_sqs
from bench.stack import services
from bench.sweep import (
    IdleSweep,
    SerialResult,
    SweepResult,
    run_idle_sweep,
    run_serial,
    run_sweep,
)

RESULTS_DIR = Path(__file__).parent / "results"
GOAL_RATIO = 1.15
GOAL_RSS_MB = 160.0
GOAL_COLD_RATIO = 1.5
STEPS = ("sweep", "serial", "cold", "sqs")


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


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_sweep(r: SweepResult) -> None:
    calls = ", ".join(f"{name} {count}" for name, count in sorted(r.calls.items()))
    print(
        f"1. Sweep: {r.stale} stale + {r.healthy} healthy + {r.finished} finished requests, "
        f"one scheduled invocation in a fresh process"
    )
    print(
        f"   wall time (invocation)      {r.wall_seconds:9.1f} s   "
        f"(whole process {r.process_seconds:.1f} s)"
    )
    print(
        f"   bound = calls / quota       {r.bound_seconds:9.1f} s   "
        f"({r.total_calls} calls / {r.quota:g} per s)"
    )
    print(
        f"   ratio                       {r.ratio:9.2f}     goal <= {GOAL_RATIO}: "
        f"{verdict(r.ratio <= GOAL_RATIO)}"
    )
    print(f"   Cloud Control calls         {calls}")
    print(f"   calls per cancelled request {r.calls_per_cancel:9.3f}")
    print(
        f"   CPU of the reaper process   {r.cpu_seconds:9.1f} s   "
        f"({r.cpu_seconds / max(1, r.cancelled) * 1000:.1f} ms per cancelled request)"
    )
    helpers = " + ".join(f"{name} {s:.1f}" for name, s in sorted(r.helper_cpu_seconds.items()))
    print(
        f"   CPU bound of this machine   {r.cpu_bound_seconds:9.1f} s   "
        f"((reaper {r.cpu_seconds:.1f} + {helpers}) / {r.cpus} CPUs; "
        f"wall / max(bound, CPU bound) = "
        f"{r.wall_seconds / max(r.bound_seconds, r.cpu_bound_seconds):.2f})"
    )
    aws = ", ".join(f"{k} {v}" for k, v in sorted(r.aws_calls.items()))
    print(f"   DynamoDB/SQS calls          {aws}")
    print(f"   request units               {r.write_units:9.0f} WRU, {r.read_units:.0f} RRU")
    print(f"   throttled calls             {r.throttled:9d}")
    print(
        f"   cancelled / stale           {r.cancelled:9d} / {r.stale}   "
        f"wrongly cancelled {r.wrongly_cancelled}"
    )
    print(
        f"   audit decisions             {r.audit_decisions:9d}   {r.audit_outcomes}   "
        f"items {r.audit_items}"
    )
    print(
        f"   work queue / DLQ messages   {r.work_queue:9d} / {r.dead_letters}   "
        f"log lines {r.log_lines}"
    )
    print(f"   correctness                 {'all cancelled, nothing lost' if r.ok else 'FAILED'}")
    print(
        f"4. Peak RSS of the sweep       {r.peak_rss_mb:9.1f} MB  goal <= {GOAL_RSS_MB:g}: "
        f"{verdict(r.peak_rss_mb <= GOAL_RSS_MB)}"
    )


def print_serial(s: SerialResult, sweep: SweepResult | None) -> None:
    print(
        f"2. Serial boto3 loop (list, get, cancel, one at a time) on {s.stale} stale "
        f"+ {s.stale} healthy + {s.stale} finished"
    )
    print(
        f"   wall time                   {s.seconds:9.1f} s   {s.total_calls} calls, "
        f"throttled {s.throttled}, cancelled {s.cancelled}/{s.stale}, "
        f"wrongly {s.wrongly_cancelled}"
    )
    print(f"   seconds per cancelled req.  {s.seconds_per_cancel:9.4f} s (serial)")
    if sweep is not None and sweep.cancelled:
        reaper = sweep.wall_seconds / sweep.cancelled
        print(f"                               {reaper:9.4f} s (reaper sweep)")
        print(f"   reaper ahead by             {s.seconds_per_cancel / reaper:9.1f} x")


def print_cold(c: ColdStartResult) -> None:
    print(f"3. Cold start, median of {c.runs} fresh processes (import timed inside the child)")
    rows = (
        ("import reaper.handler", c.handler),
        ("import boto3", c.boto3),
        ("handler + container() (clients)", c.handler_and_clients),
    )
    for name, samples in rows:
        print(
            f"   {name:<32} {samples.median * 1000:7.0f} ms   "
            f"(process wall {samples.process_median * 1000:.0f} ms)"
        )
    print(
        f"   ratio handler / boto3       {c.ratio:9.2f}     goal <= {GOAL_COLD_RATIO}: "
        f"{verdict(c.ratio <= GOAL_COLD_RATIO)}"
    )
    print(
        "   where the time goes (python -X importtime -c 'import reaper.handler', top 15 "
        "cumulative):"
    )
    for name, cumulative, own in c.top_imports:
        print(f"     {cumulative * 1000:7.1f} ms cumulative {own * 1000:6.1f} ms self  {name}")


def print_sqs(results: list[SqsResult]) -> None:
    print("5. SQS path: batches of 10 records (one token each), audit writes on")
    for r in results:
        print(
            f"   latency {r.latency_ms:4g} ms, follow {r.follow_seconds:2d} s: "
            f"{r.records_per_second:8.2f} records/s "
            f"(warm {r.warm_records_per_second:.2f}; {r.records} records in {r.batches} "
            f"batches, {r.seconds:.1f} s), {r.calls_per_record:.2f} Cloud Control calls/record, "
            f"failures {r.item_failures}, decisions {r.audit_decisions}, "
            f"peak RSS {r.peak_rss_mb:.0f} MB"
        )


def print_idle(idle: IdleSweep) -> None:
    print(
        f"   idle sweep (empty account): process {idle.process_seconds:.2f} s (import "
        f"{idle.import_seconds:.2f} s, invocation {idle.invoke_seconds:.2f} s), "
        f"{idle.cloud_control_calls} Cloud Control call(s), peak RSS {idle.peak_rss_mb:.0f} MB"
    )


def print_cost(model: CostModel) -> None:
    def line(parts: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.4f}" for k, v in parts.items() if k != "total")

    print(f"6. Cost (us-east-1 list prices as of {PRICES_AS_OF}, no free tier, 512 MB arm64)")
    print(
        f"   per million tokens via SQS   ${model.per_million_tokens_sqs['total']:9.2f}   "
        f"({model.sqs_seconds_per_token:.3f} s, {model.sqs_write_units_per_token:.1f} WRU, "
        f"{model.sqs_read_units_per_token:.1f} RRU per token: "
        f"{line(model.per_million_tokens_sqs)})"
    )
    print(
        f"   per million tokens by sweep  ${model.per_million_tokens_sweep['total']:9.2f}   "
        f"({model.sweep_seconds_per_token:.4f} s, {model.sweep_write_units_per_token:.1f} WRU, "
        f"{model.sweep_read_units_per_token:.1f} RRU per cancelled request: "
        f"{line(model.per_million_tokens_sweep)})"
    )
    print(
        f"   a month of idle sweeps       ${model.idle_month['total']:9.2f}   "
        f"({SWEEPS_PER_MONTH} runs of {model.idle_sweep_seconds:.2f} s: "
        f"{line(model.idle_month)})"
    )
    print(f"   prices: {PRICES}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quota", type=float, default=200.0, help="account calls/s (25 real)")
    parser.add_argument("--stale", type=int, default=10_000)
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
        help="small sizes: 300 stale, 30 serial, 3 cold runs, 1 SQS batch",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.quick:
        args.stale, args.serial_stale, args.cold_runs, args.sqs_batches = 300, 30, 3, 1
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
    idle: IdleSweep | None = None
    sqs_results: list[SqsResult] = []
    began = time.perf_counter()
    with services(args.latency_ms, args.quota) as stack:
        knobs = {"cancel_complete_after_seconds": args.cancel_complete_after}
        if "sweep" in args.only:
            wrapper = None
            py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
            if args.profile and py_spy:
                raw = args.results_dir / f"sweep-{stamp}.pyspy.txt"
                idle = ["--idle"] if args.profile == "wall" else ["--gil"]
                flags = ["record", "--threads", *idle, "--rate", "50", "--format", "raw", "-o"]
                wrapper = [py_spy, *flags, str(raw), "--"]
            sweep = run_sweep(stack, args.quota, args.latency_ms, args.stale, knobs, wrapper)
            report["sweep"] = asdict(sweep)
            print_sweep(sweep)
            idle = run_idle_sweep(stack, args.quota, args.latency_ms, knobs)
            report["idle_sweep"] = asdict(idle)
            print_idle(idle)
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
            sqs_seconds_per_token=1 / sqs.warm_records_per_second,
            sqs_write_units=sqs.write_units / sqs.records,
            sqs_read_units=sqs.read_units / sqs.records,
            sweep_seconds_per_token=sweep.wall_seconds / max(1, sweep.cancelled),
            sweep_write_units=sweep.write_units / max(1, sweep.cancelled),
            sweep_read_units=sweep.read_units / max(1, sweep.cancelled),
            idle_sweep_seconds=idle.process_seconds,
        )
        report["cost"] = model.as_dict()
        print_cost(model)
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
