"""What the benchmark prints: one section per measurement, each goal's verdict beside it."""

from __future__ import annotations

from typing import Any

from bench import goals
from bench.chain import ChainResult
from bench.cold_start import ColdStartResult
from bench.cost import (
    PRICES,
    PRICES_AS_OF,
    SQS_IDLE_POLLERS,
    SQS_LONG_POLL_SECONDS,
    SWEEPS_PER_MONTH,
    CostModel,
)
from bench.floor import FloorResult
from bench.goals import verdict
from bench.sqs_path import SqsResult
from bench.sweep import IdleSweep, SerialResult, SweepResult


def print_floor(f: FloorResult) -> None:
    rounds = ", ".join(f"{s:.3f}" for s in f.cpu_ms_per_call_rounds)
    print(
        f"0. Floor: a bare boto3 client calling CancelResourceRequest in a loop, fresh process, "
        f"same emulator (latency {f.latency_ms:g} ms, no quota)"
    )
    print(
        f"   CPU per call                {f.cpu_ms_per_call:9.3f} ms  (median of {f.rounds} "
        f"rounds of {f.calls}: {rounds}; failed calls {f.failed_calls})"
    )


def print_cpu(small: SweepResult, large: SweepResult | None, floor_ms: float) -> None:
    """Goal 1: CPU per cancelled request against the floor, at two sizes."""
    print("1. CPU per cancelled request against the floor (goal <= "
          f"{goals.CPU_RATIO}x; flat: large / small <= {goals.CPU_FLAT})")  # fmt: skip
    per: list[float] = []
    for r in (small, large):
        if r is None:
            continue
        ms = r.cpu_seconds / max(1, r.cancelled) * 1000
        per.append(ms)
        print(
            f"   {r.stale:>6} stale                {ms:9.2f} ms = {ms / floor_ms:5.2f}x   "
            f"{verdict(ms / floor_ms <= goals.CPU_RATIO)}"
        )
    if len(per) == 2:
        print(
            f"   large / small               {per[1] / per[0]:9.2f}        "
            f"{verdict(per[1] / per[0] <= goals.CPU_FLAT)}"
        )


def print_chain(c: ChainResult) -> None:
    calls = ", ".join(f"{name} {count}" for name, count in sorted(c.calls.items()))
    print(
        f"5. Chain: {c.stale} stale at {c.quota:g}/s, function timeout {c.timeout_seconds} s, "
        f"reserved concurrency {c.max_concurrency}, real time (the emulator is not sped up)"
    )
    print(
        f"   wall, first start to last end {c.wall_seconds:7.1f} s   bound stale / quota "
        f"{c.bound_seconds:.1f} s: ratio {c.ratio:.2f}, goal <= {goals.CHAIN_RATIO}: "
        f"{verdict(c.ratio <= goals.CHAIN_RATIO and c.ok)}"
    )
    print(
        f"   to the last cancel          {c.last_cancel_seconds:7.1f} s   ratio "
        f"{c.last_cancel_seconds / c.bound_seconds:.2f} (the rest: recording final states)"
    )
    print(
        f"   calls / quota                {c.calls_bound_seconds:7.1f} s   ({calls}); "
        f"{c.invocations} invocations ({c.overruns} past the timeout), errors "
        f"{len(c.invocation_errors)} "
        f"{c.invocation_errors[:2]}, SQS records failed {c.records_failed}"
    )
    print(f"   sweep answered               {c.sweep_response}")
    print(
        f"   cancelled {c.cancelled}/{c.stale}, wrongly {c.wrongly_cancelled}, cancelled twice "
        f"{c.cancelled_twice}, tokens with a cancel decision {c.tokens_with_cancel_decision} "
        f"(two: {c.tokens_with_two_cancel_decisions}), outcomes {c.outcomes}, work queue left "
        f"{c.work_queue_left}, DLQ {c.dead_letters}, finished {c.finished}"
    )
    print(f"   containers: CPU {c.container_cpu_seconds} s, peak RSS {c.container_peak_rss_mb} MB")
    print(f"   correctness                 {'nothing lost, nothing twice' if c.ok else 'FAILED'}")


def print_goals(report: dict[str, Any]) -> None:
    print("Goals of issue 14 (python -m bench.goals prints this run as a markdown table)")
    for row in goals.rows_of(report):
        met = "-" if row.met is None else verdict(row.met)
        print(f"   {row.goal:<62} {row.figure.replace('**', ''):<34} {row.target:<10} {met}")


def print_sweep(r: SweepResult, floor_ms: float | None, title: str = "1. Sweep") -> None:
    calls = ", ".join(f"{name} {count}" for name, count in sorted(r.calls.items()))
    print(
        f"{title}: {r.stale} stale + {r.healthy} healthy + {r.finished} finished requests, "
        f"quota {r.quota:g}/s, one scheduled invocation in a fresh process"
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
        f"   ratio                       {r.ratio:9.2f}     (goal 5 at 25/s: <= "
        f"{goals.ONE_INVOCATION_RATIO})"
    )
    print(f"   Cloud Control calls         {calls}")
    print(
        f"   calls per cancelled request {r.calls_per_cancel:9.3f}     goal <= "
        f"{goals.CALLS_PER_CANCEL}: {verdict(r.calls_per_cancel <= goals.CALLS_PER_CANCEL)}"
    )
    per_cancel = r.cpu_seconds / max(1, r.cancelled) * 1000
    against = f" = {per_cancel / floor_ms:.2f}x the floor" if floor_ms else ""
    print(
        f"   CPU of the reaper process   {r.cpu_seconds:9.1f} s   "
        f"({per_cancel:.2f} ms per cancelled request{against}; system {r.cpu_system_seconds:.1f} s)"
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
    wru = r.write_units / max(1, r.cancelled)
    print(
        f"   request units               {r.write_units:9.0f} WRU, {r.read_units:.0f} RRU   "
        f"({wru:.2f} WRU per cancel, goal <= {goals.WRITE_UNITS_PER_CANCEL:g}: "
        f"{verdict(wru <= goals.WRITE_UNITS_PER_CANCEL)})"
    )
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
        f"   Peak RSS of the sweep       {r.peak_rss_mb:9.1f} MB  goal <= {goals.PEAK_RSS_MB:g}: "
        f"{verdict(r.peak_rss_mb <= goals.PEAK_RSS_MB)}"
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
        f"   ratio handler / boto3       {c.ratio:9.2f}     goal <= {goals.COLD_RATIO}: "
        f"{verdict(c.ratio <= goals.COLD_RATIO)}"
    )
    print(
        "   where the time goes (python -X importtime -c 'import reaper.handler', top 15 "
        "cumulative):"
    )
    for name, cumulative, own in c.top_imports:
        print(f"     {cumulative * 1000:7.1f} ms cumulative {own * 1000:6.1f} ms self  {name}")


def print_sqs(results: list[SqsResult]) -> None:
    print(
        "5. SQS path: batches of 10 records (one token each), audit writes on "
        f"(goal 3: >= {goals.SQS_RECORDS_PER_SECOND:g} records/s at 50 ms, follow on)"
    )
    for r in results:
        print(
            f"   latency {r.latency_ms:4g} ms, follow {r.follow_seconds:2d} s: "
            f"{r.records_per_second:8.2f} records/s "
            f"(warm {r.warm_records_per_second:.2f}; {r.records} records in {r.batches} "
            f"batches, {r.seconds:.1f} s), {r.calls_per_record:.2f} Cloud Control calls/record, "
            f"failures {r.item_failures}, decisions {r.audit_decisions}, "
            f"peak RSS {r.peak_rss_mb:.0f} MB"
        )
        if r.follow_up_batches:
            print(
                f"      then {r.follow_up_records} follow-up(s) in {r.follow_up_batches} "
                f"invocation(s), {r.follow_up_seconds:.1f} s; per token in all "
                f"{r.write_units / r.records:.1f} WRU, {r.sqs_requests / r.records:.2f} SQS "
                f"requests, {r.invocations / r.records:.2f} invocations"
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
    print(
        f"   a month idle, org member     ${model.idle_month_org_member['total']:9.2f}   "
        f"goal <= ${goals.COST_IDLE_ORG_MEMBER:.2f}: "
        f"{verdict(model.idle_month_org_member['total'] <= goals.COST_IDLE_ORG_MEMBER)} "
        f"(no alarm, no custom metric, no mapping: each sweep drains the work queue: "
        f"{line(model.idle_month_org_member)})"
    )
    continuous = model.idle_month_org_member_continuous
    print(
        f"   ... workQueue continuous     ${continuous['total']:9.2f}   "
        f"(the mapping polls an empty queue: {SQS_IDLE_POLLERS} pollers x a ReceiveMessage "
        f"per {SQS_LONG_POLL_SECONDS} s: {line(continuous)})"
    )
    print(f"   prices: {PRICES}")
